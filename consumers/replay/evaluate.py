"""Turning replayed records into classified items (re-scored or as recorded) and the alerts they would raise."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import structlog

from classifiers.model import NewsClassifier
from consumers.alerts.matcher import RuleRate, alerts_for
from consumers.alerts.rules import RuleSet
from consumers.replay.request import Filters
from consumers.replay.source import Record
from consumers.replay.suppression import SimulatedSuppression
from consumers.scoring import classify_items
from monitor.messages import LABELS, Alert, ClassifiedItem, DecodeError, RawItem, decode

M = TypeVar("M", RawItem, ClassifiedItem)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Seen:
    """One replayed item: where it came from, when it was recorded, how it was classified, what it raised."""

    partition: int
    offset: int
    at: datetime
    item: ClassifiedItem
    alerts: list[Alert]


def record_time(rec: Record) -> datetime:
    return datetime.fromtimestamp(rec.timestamp / 1000, UTC)


def relabelled(c: ClassifiedItem, thresholds: dict[str, float]) -> ClassifiedItem:
    """The item with each label that has a threshold here decided anew from its score; the others as they were."""
    if not thresholds:
        return c
    labels = [x for x in LABELS if (c.scores.get(x, 0.0) >= thresholds[x] if x in thresholds else x in c.labels)]
    return c.model_copy(update={"labels": labels})


def wanted(c: ClassifiedItem, f: Filters) -> bool:
    """Whether an item passes the source, feed and language filters."""
    it = c.item
    return (
        (not f.sources or it.source.casefold() in {s.casefold() for s in f.sources})
        and (not f.feeds or it.feed_id in f.feeds)
        and (not f.langs or it.lang.lower() in {x.lower() for x in f.langs})
    )


class Classify:
    """Records to classified items: `news.raw` scored by the chosen model, `news.classified` decoded as recorded."""

    def __init__(self, model: NewsClassifier | None, thresholds: dict[str, float]) -> None:
        self._model = model
        self._thresholds = thresholds
        self.bad = 0

    def _decode(self, recs: list[Record], kind: type[M]) -> list[tuple[Record, M]]:
        out: list[tuple[Record, M]] = []
        for rec in recs:
            try:
                out.append((rec, decode(kind, rec.value)))
            except DecodeError as exc:
                self.bad += 1
                log.warning("replay.bad_input", topic=rec.topic, partition=rec.partition, offset=rec.offset,
                            error=str(exc))  # fmt: skip
        return out

    async def __call__(self, recs: list[Record]) -> list[tuple[Record, ClassifiedItem]]:
        if self._model is None:
            pairs = self._decode(recs, ClassifiedItem)
        else:
            raw = self._decode(recs, RawItem)
            items = await asyncio.to_thread(classify_items, self._model, [it for _, it in raw], 0)
            pairs = [(r, c) for (r, _), c in zip(raw, items, strict=True)]
        return [(r, relabelled(c, self._thresholds)) for r, c in pairs]


class Alerting:
    """The rules run over items in record order, with suppression simulated in memory as live applies it."""

    def __init__(self, rules: RuleSet, window_s: float) -> None:
        self._rules = rules
        self._store = SimulatedSuppression(window_s)
        self._rate = RuleRate()
        self._clocks: dict[int, datetime] = {}

    def __call__(self, rec: Record, c: ClassifiedItem) -> Seen:
        at = record_time(rec)
        self._clocks[rec.partition] = at
        alerts = alerts_for(self._rules, c, self._store, self._rate, at, at.timestamp())
        return Seen(rec.partition, rec.offset, at, c, alerts)

    def expire(self) -> None:
        if self._clocks:
            self._store.expire(min(self._clocks.values()))
