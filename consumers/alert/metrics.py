"""Prometheus metrics of the alert stage: items in, alerts out per rule and mode, dead letters."""

from __future__ import annotations

from prometheus_client import Counter

from monitor.messages import Alert
from monitor.ops.metrics import StageMetrics

STAGE = StageMetrics("alert")
STAGE.declare("bad_input", "retryable")
ALERTS = Counter("newsmon_alerts", "Alerts produced to news.alerts, by rule and mode (immediate, digest).",
                 ["rule", "mode"])  # fmt: skip


def read(n: int) -> None:
    STAGE.read(n)


def alerted(alerts: list[Alert]) -> None:
    """Alerts produced and recorded in the alert state."""
    STAGE.wrote(len(alerts))
    for a in alerts:
        ALERTS.labels(a.rule_id, a.mode).inc()
