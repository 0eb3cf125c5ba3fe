"""Alerting: rules match classified stories (`alert` stage) and alerts are delivered to sinks (`deliver` stage)."""
