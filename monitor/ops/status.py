"""What the status page shows: feeds and recent alerts reported by this process's stages, lag and dead letters
read from the metrics they export."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.policy import FeedHealth, feed_health
from monitor.messages import Alert, FeedState
from monitor.ops.metrics import CONSUMER_LAG, DEAD_LETTERS
from monitor.ops.readiness import Readiness

if TYPE_CHECKING:
    from monitor.ops.peer import OpsPeer

_URGENCY = {h: i for i, h in enumerate(FeedHealth)}


class FeedSource(Protocol):
    def feed_states(self) -> Iterable[tuple[FeedConfig, FeedState | None]]:
        """Every feed the source polls with its latest state."""
        ...


@dataclass(frozen=True)
class FeedRow:
    feed_id: str
    url: str
    health: FeedHealth
    consecutive_errors: int = 0
    last_error: str = ""
    last_attempt: datetime | None = None
    last_success: datetime | None = None


@dataclass(frozen=True)
class AlertRow:
    matched_at: datetime
    rule_id: str
    mode: str
    event_id: str
    item_id: str
    title: str
    url: str
    feed_id: str
    labels: list[str]
    scores: dict[str, float]
    explanation: dict[str, list[tuple[str, float]]]
    reasons: list[str]


@dataclass(frozen=True)
class LagRow:
    stage: str
    topic: str
    partition: int
    lag: int


@dataclass(frozen=True)
class Status:
    """One snapshot of everything the page shows."""

    ready: dict[str, Any]
    feeds: list[FeedRow]
    alerts: list[AlertRow]
    lag: list[LagRow]
    dead_letters: list[tuple[str, str, int]]
    taken_at: datetime = field(default_factory=lambda: datetime.now().astimezone())


def feed_row(feed: FeedConfig, state: FeedState | None) -> FeedRow:
    health = feed_health(state, feed.url, enabled=feed.enabled)
    if state is None:
        return FeedRow(feed.id, feed.url, health)
    return FeedRow(feed.id, feed.url, health, state.consecutive_errors, state.last_error, state.last_attempt,
                   state.last_success)  # fmt: skip


def alert_row(a: Alert) -> AlertRow:
    c = a.item
    explanation = {label: [(x.feature, x.weight) for x in xs] for label, xs in c.explanation.items()}
    return AlertRow(a.matched_at, a.rule_id, a.mode, a.event_id, c.item.id, c.item.title, c.item.url,
                    c.item.feed_id, list(c.labels), dict(c.scores), explanation, list(a.reasons))  # fmt: skip


class StatusBoard:
    """The process's status: stages register their feeds and report the alerts they raise or deliver."""

    def __init__(self, readiness: Readiness | None = None, keep_alerts: int = 50) -> None:
        self.readiness = readiness or Readiness()
        self._feeds: list[FeedSource] = []
        self._alerts: deque[AlertRow] = deque(maxlen=keep_alerts)
        self._seen: deque[str] = deque(maxlen=keep_alerts)
        # Child processes whose endpoints answer as part of this one's (see `monitor.ops.peer`).
        self.peers: list[OpsPeer] = []

    def watch_feeds(self, source: FeedSource) -> None:
        self._feeds.append(source)

    def unwatch_feeds(self, source: FeedSource) -> None:
        self._feeds = [s for s in self._feeds if s is not source]

    def alerted(self, alerts: Iterable[Alert]) -> None:
        """Remember the latest alerts; one seen again (redelivered, or raised and delivered here) is kept once."""
        for a in alerts:
            if a.event_id not in self._seen:
                self._seen.append(a.event_id)
                self._alerts.appendleft(alert_row(a))

    def snapshot(self, ready: dict[str, Any] | None = None, more_feeds: Iterable[FeedRow] = ()) -> Status:
        """What the page shows; `ready` and `more_feeds` add what child processes answered."""
        feeds = sorted([*self.feed_rows(), *more_feeds], key=lambda r: (_URGENCY[r.health], r.feed_id))
        ready = ready or self.readiness.report()
        return Status(ready, feeds, list(self._alerts), lag_rows(), dead_letter_counts())

    def feed_rows(self) -> Iterator[FeedRow]:
        for source in list(self._feeds):
            for feed, state in source.feed_states():
                yield feed_row(feed, state)


def lag_rows() -> list[LagRow]:
    """Consumer lag per stage and partition, as this process last measured it."""
    rows = [
        LagRow(s.labels["stage"], s.labels["topic"], int(s.labels["partition"]), int(s.value))
        for metric in CONSUMER_LAG.collect()
        for s in metric.samples
    ]
    return sorted(rows, key=lambda r: (r.stage, r.topic, r.partition))


def dead_letter_counts() -> list[tuple[str, str, int]]:
    """(stage, reason, records) dead-lettered by this process since it started."""
    rows = [
        (s.labels["stage"], s.labels["reason"], int(s.value))
        for metric in DEAD_LETTERS.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    ]
    return sorted(rows)
