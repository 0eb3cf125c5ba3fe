"""The project's own single-node Apache Kafka (KRaft) broker, built from Maven Central jars."""

from monitor.broker.distribution import BrokerSetupError, ensure_distribution
from monitor.broker.local import LocalBroker

__all__ = ["BrokerSetupError", "LocalBroker", "ensure_distribution"]
