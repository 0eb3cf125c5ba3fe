"""Metrics every stage shares: items in and out, errors and dead letters by class, consumer lag, Kafka reachability."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge

ITEMS_IN = Counter("newsmon_stage_items_in", "Records a stage read from its input topic.", ["stage"])
ITEMS_OUT = Counter("newsmon_stage_items_out", "Records a stage produced or delivered.", ["stage"])
ERRORS = Counter(
    "newsmon_stage_errors",
    "Errors met by a stage, by class (retryable, permanent, bad_input).",
    ["stage", "error_class"],
)
DEAD_LETTERS = Counter(
    "newsmon_dead_letters", "Records written to the dead-letter topic, by stage and reason.", ["stage", "reason"]
)
CONSUMER_LAG = Gauge(
    "newsmon_consumer_lag",
    "Records of a partition not yet committed by the stage: high watermark minus committed offset.",
    ["stage", "topic", "partition"],
)
KAFKA_UP = Gauge("newsmon_kafka_up", "1 while a Kafka broker answers this process's probe, else 0.")
KAFKA_OUTAGES = Counter("newsmon_kafka_outages", "Times the Kafka cluster became unreachable from this process.")


@dataclass(frozen=True)
class StageMetrics:
    """The shared metrics with one stage's label bound, for a stage's own metrics module."""

    stage: str

    def read(self, n: int) -> None:
        ITEMS_IN.labels(self.stage).inc(n)

    def wrote(self, n: int) -> None:
        ITEMS_OUT.labels(self.stage).inc(n)

    def error(self, error_class: str, n: int = 1) -> None:
        ERRORS.labels(self.stage, error_class).inc(n)

    def dead_lettered(self, reason: str, n: int = 1) -> None:
        DEAD_LETTERS.labels(self.stage, reason).inc(n)

    def bad_input(self, n: int) -> None:
        """Inputs that cannot be read, or whose output is too large to produce, went to the dead letters."""
        if n:
            self.error("bad_input", n)
            self.dead_lettered("bad_input", n)

    def declare(self, *error_classes: str) -> None:
        """Export the stage's series at zero before anything happens, so dashboards and rates see them at once."""
        ITEMS_IN.labels(self.stage)
        ITEMS_OUT.labels(self.stage)
        for c in error_classes:
            ERRORS.labels(self.stage, c)
