"""Prometheus metrics of the deliver stage: outcomes and attempts per sink, circuit breakers, dead letters, and the
headline figure, seconds from a story's publication to its alert acknowledged by a sink."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consumers.deliver.limits import CircuitBreaker
from monitor.messages import Alert, DeadLetter, Delivery
from monitor.ops.metrics import StageMetrics

STAGE = StageMetrics("deliver")
STAGE.declare("retryable", "permanent", "bad_input", "exhausted")
DELIVERIES = Counter(
    "newsmon_deliveries",
    "Alerts per sink by outcome of an attempt: delivered, retry, failed (refused) or dead_lettered.",
    ["sink", "outcome"],
)
ATTEMPTS = Histogram(
    "newsmon_delivery_attempts",
    "Attempts an alert took to reach its final outcome at a sink.",
    ["sink"],
    buckets=(1, 2, 3, 5, 10, 20, 50),
)
# Buckets from a second to a day: feeds publish late and backfill, and the pipeline's own share is the short end.
_LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
PUBLISH_TO_DELIVERED = Histogram(
    "newsmon_publish_to_delivered_seconds",
    "Seconds from a story's publication (its published time, estimated when the feed gives none) to its alert "
    "acknowledged by the sink.",
    ["sink"],
    buckets=_LATENCY_BUCKETS,
)
FETCH_TO_DELIVERED = Histogram(
    "newsmon_fetch_to_delivered_seconds",
    "Seconds from a story's fetch by a poller to its alert acknowledged by the sink: the pipeline's own latency.",
    ["sink"],
    buckets=_LATENCY_BUCKETS,
)
_FINAL = {"delivered", "failed", "dead_lettered"}


def read(n: int) -> None:
    STAGE.read(n)


def delivered(sink: str, alerts: list[Alert], now: float | None = None) -> None:
    """A sink acknowledged these alerts (one message: an alert or a digest)."""
    now = time.time() if now is None else now
    STAGE.wrote(len(alerts))
    for a in alerts:
        PUBLISH_TO_DELIVERED.labels(sink).observe(max(0.0, now - a.item.item.published.timestamp()))
        FETCH_TO_DELIVERED.labels(sink).observe(max(0.0, now - a.item.item.fetched_at.timestamp()))


def recorded(deliveries: list[Delivery], letters: list[DeadLetter]) -> None:
    """Outcomes stored in news.deliveries and the dead letters stored beside them."""
    for d in deliveries:
        DELIVERIES.labels(d.sink, d.status).inc()
        if d.status == "retry":
            STAGE.error("retryable")
        if d.status in _FINAL:
            ATTEMPTS.labels(d.sink).observe(d.attempt)
    for x in letters:  # every alert that ends undelivered is lettered, a refusal (permanent) included
        STAGE.dead_lettered(x.error_class)
        STAGE.error(x.error_class)


# Worst first: a sink with two breakers (two stages in one process) shows the worse of them.
_STATES = ("open", "half_open", "closed")


class _BreakerCollector(Collector):
    """Reads the circuit breakers' states when scraped, so a breaker that opened or cooled down is never stale."""

    def __init__(self) -> None:
        self.breakers: weakref.WeakKeyDictionary[CircuitBreaker, str] = weakref.WeakKeyDictionary()

    def collect(self) -> Iterator[Metric]:
        worst: dict[str, str] = {}
        for breaker, sink in list(self.breakers.items()):
            known = worst.get(sink, "closed")
            worst[sink] = min(known, breaker.state, key=_STATES.index)
        family = GaugeMetricFamily(
            "newsmon_sink_circuit_state", "1 for the state each sink's circuit breaker is in.", labels=["sink", "state"]
        )
        for sink, state in sorted(worst.items()):
            for s in _STATES:
                family.add_metric([sink, s], 1.0 if s == state else 0.0)
        yield family


_BREAKERS = _BreakerCollector()
REGISTRY.register(_BREAKERS)


def watch_breaker(sink: str, breaker: CircuitBreaker) -> None:
    """Export this sink's breaker state for as long as the breaker exists."""
    _BREAKERS.breakers[breaker] = sink
