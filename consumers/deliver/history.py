"""Which alerts each sink already received: read back from `news.deliveries`, so a restart does not repeat them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import structlog

from monitor.messages import DecodeError, Delivery, decode
from monitor.settings import KafkaSettings
from monitor.stream.table import Table

log = structlog.get_logger(__name__)

# The match and the delivery are stamped by different processes, perhaps on different hosts.
_CLOCK_SKEW_S = 1.0


class Delivered(NamedTuple):
    event_id: str
    sink: str
    at: float
    reference: str = ""  # the sink's own id of the message, e.g. a Slack message's ts


def _key(event_id: str, sink: str) -> str:
    return f"{event_id} {sink}"


def _delivered(value: bytes) -> Delivered | None:
    try:
        d = decode(Delivery, value)
    except DecodeError:
        return None  # not ours to judge; the deliveries topic is a record, not an input
    return Delivered(d.event_id, d.sink, d.at.timestamp(), d.reference) if d.status == "delivered" else None


class DeliveredLog:
    """(event id, sink) pairs delivered within the look-back window, from the topic and from this process."""

    def __init__(self, kafka: KafkaSettings, topic: str, lookback_s: float) -> None:
        self._lookback_s = lookback_s
        # Read-only, one entry per pair: the topic is keyed by event id alone, one record per attempt.
        self._seen: Table[Delivered] = Table(kafka, topic, None, _delivered, key_of=lambda d: _key(d.event_id, d.sink))
        self._pruned_at = time.time()

    async def start(self) -> None:
        if self._lookback_s <= 0:
            return
        since = datetime.now(UTC) - timedelta(seconds=self._lookback_s)
        n = await self._seen.load(since=since)
        log.info("delivery.history_loaded", records=n, delivered=len(self._seen))

    async def catch_up(self) -> None:
        """Learn what other instances delivered (called when partitions move to this one)."""
        if self._lookback_s > 0:
            await self._seen.catch_up()

    def seen(self, event_id: str, sink: str, matched_at: datetime) -> bool:
        """Whether the sink received this alert: a delivery after its match; an older one was of an earlier alert
        for the same story and rule, before the suppression window let it alert again."""
        d = self._seen.get(_key(event_id, sink))
        return d is not None and d.at >= matched_at.timestamp() - _CLOCK_SKEW_S

    def reference(self, event_id: str, sink: str) -> str:
        """The sink's own id of the message this alert became ("" when unknown or older than the look-back)."""
        d = self._seen.get(_key(event_id, sink))
        return d.reference if d is not None else ""

    def add(self, event_id: str, sink: str, reference: str = "") -> None:
        now = time.time()
        self._seen.remember(_key(event_id, sink), Delivered(event_id, sink, now, reference))
        if now - self._pruned_at > 600:
            self._pruned_at = now
            cutoff = now - max(self._lookback_s, 600)
            self._seen.forget(k for k, d in self._seen.items() if d.at < cutoff)

    async def stop(self) -> None:
        await self._seen.stop()
