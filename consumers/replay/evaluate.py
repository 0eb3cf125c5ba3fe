"""The ordered part of a replay: filters, then suppression simulated over judged items in record order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from consumers.alert.stage import event_id
from consumers.replay.judge import Judged
from consumers.replay.request import Filters
from consumers.replay.suppression import SimulatedSuppression


@dataclass(frozen=True, slots=True)
class Seen:
    """One replayed item: where and when it was recorded, how it was judged, and the rules that alerted for it."""

    partition: int
    offset: int
    at_ms: int
    item: Judged
    alerts: tuple[tuple[str, str], ...]  # (rule id, event id)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC)


class Wanted:
    """Whether an item passes the source, feed and language filters (sources and languages in any case)."""

    def __init__(self, f: Filters) -> None:
        self._sources = {s.casefold() for s in f.sources}
        self._feeds = set(f.feeds)
        self._langs = {x.lower() for x in f.langs}

    def __call__(self, j: Judged) -> bool:
        return (
            (not self._sources or j.source.casefold() in self._sources)
            and (not self._feeds or j.feed_id in self._feeds)
            and (not self._langs or j.lang.lower() in self._langs)
        )


class Alerting:
    """Suppression as the alert stage applies it: a story and rule alert once within the window."""

    def __init__(self, window_s: float) -> None:
        self._store = SimulatedSuppression(window_s)
        self._clocks: dict[int, float] = {}

    def __call__(self, partition: int, offset: int, at_ms: int, j: Judged) -> Seen:
        at = at_ms / 1000
        self._clocks[partition] = at
        alerts = []
        for rule_id in j.rules:
            eid = event_id(rule_id, j.item_id)
            if self._store.first(eid, at):
                alerts.append((rule_id, eid))
        return Seen(partition, offset, at_ms, j, tuple(alerts))

    def expire(self) -> None:
        if self._clocks:
            self._store.expire(min(self._clocks.values()))
