"""Prometheus metrics of the classify stage: items in and out, dead letters, and how long a batch takes."""

from __future__ import annotations

from prometheus_client import Histogram

from monitor.ops.metrics import StageMetrics

STAGE = StageMetrics("classify")
STAGE.declare("bad_input", "retryable")
BATCH_SECONDS = Histogram(
    "newsmon_classify_batch_seconds",
    "Time from reading a batch of news.raw to its results produced and committed; every item waits this long.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BATCH_ITEMS = Histogram(
    "newsmon_classify_batch_items", "Items per classified batch.", buckets=(1, 4, 16, 64, 128, 256, 512, 1024)
)


def read(n: int) -> None:
    STAGE.read(n)


def finished(items: int, seconds: float) -> None:
    """A batch of `items` classified items was produced and committed `seconds` after it was read."""
    STAGE.wrote(items)
    BATCH_SECONDS.observe(seconds)
    BATCH_ITEMS.observe(items)
