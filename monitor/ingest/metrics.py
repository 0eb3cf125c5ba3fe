"""Prometheus metrics of ingestion (served by monitor.ops.server with every other stage's)."""

from __future__ import annotations

import weakref
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import Protocol

import structlog
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.ingest.errors import ErrorKind
from monitor.ingest.policy import FeedHealth
from monitor.ops.metrics import StageMetrics

log = structlog.get_logger(__name__)

POLLS = Counter("newsmon_polls", "Feed polls by outcome: 200, 304 or the error kind.", ["outcome"])
FEED_ERRORS = Counter("newsmon_feed_errors", "Failed feed polls by error kind.", ["kind"])
ITEMS = Counter("newsmon_items_produced", "Items produced to news.raw: new stories and updates.", ["kind"])
FETCH_SECONDS = Histogram(
    "newsmon_fetch_seconds",
    "Time to fetch one feed (request to last body byte), failures included.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 45.0),
)
STATE_WRITES = Counter("newsmon_feed_state_writes", "FeedState records written to the feed-state topic.")

# Bound once: these run on every poll.
POLLS_200 = POLLS.labels("200")
POLLS_304 = POLLS.labels("304")
ITEMS_NEW = ITEMS.labels("new")
ITEMS_UPDATED = ITEMS.labels("update")


STAGE = StageMetrics("ingest")
STAGE.declare("retryable", "permanent", "bad_input")
# The class of each poll failure: the network and the server are retried, the content is bad input, a refused
# address or URL stays refused until the feed's settings change.
_ERROR_CLASS = {
    ErrorKind.TOO_LARGE: "bad_input",
    ErrorKind.NOT_A_FEED: "bad_input",
    ErrorKind.PARSE: "bad_input",
    ErrorKind.BLOCKED_ADDRESS: "permanent",
    ErrorKind.BAD_URL: "permanent",
}


def poll_failed(kind: str) -> None:
    POLLS.labels(kind).inc()
    FEED_ERRORS.labels(kind).inc()
    STAGE.error(_ERROR_CLASS.get(ErrorKind(kind), "retryable"))


def items_produced(new: int, changed: int) -> None:
    """A poll produced `new` stories and `changed` updates to news.raw."""
    ITEMS_NEW.inc(new)
    ITEMS_UPDATED.inc(changed)
    STAGE.wrote(new + changed)


class FeedSource(Protocol):
    def feed_health(self) -> Iterable[tuple[str, FeedHealth]]:
        """(feed id, health) of every feed the source polls."""
        ...


class _FeedCollector(Collector):
    """Counts feeds by condition when scraped, from whatever schedulers are running, so it is never stale."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[FeedSource] = weakref.WeakSet()

    def collect(self) -> Iterator[Metric]:
        by_health: Tally[FeedHealth] = Tally()
        silent = GaugeMetricFamily(
            "newsmon_feed_silent",
            "1 for each feed that has published nothing new for longer than expected.",
            labels=["feed"],
        )
        for source in list(self.sources):
            for feed_id, health in source.feed_health():
                by_health[health] += 1
                if health is FeedHealth.SILENT:
                    silent.add_metric([feed_id], 1.0)
        feeds = GaugeMetricFamily("newsmon_feeds", "Feeds by health, each counted once.", labels=["condition"])
        for health in FeedHealth:
            feeds.add_metric([health.value], float(by_health[health]))
        yield feeds
        yield silent


_FEEDS = _FeedCollector()
REGISTRY.register(_FEEDS)


def watch(source: FeedSource) -> None:
    _FEEDS.sources.add(source)


def unwatch(source: FeedSource) -> None:
    _FEEDS.sources.discard(source)
