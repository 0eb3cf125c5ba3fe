"""Operating a running process: readiness, the metrics and health HTTP server, Kafka and consumer watches."""
