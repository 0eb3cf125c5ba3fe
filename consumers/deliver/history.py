"""Which alerts each sink already received: read back from `news.deliveries`, so a restart does not repeat them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import ConsumerRecord

from monitor.messages import DecodeError, Delivery, decode
from monitor.settings import KafkaSettings
from monitor.stream.reader import TopicReader

log = structlog.get_logger(__name__)

# The match and the delivery are stamped by different processes, perhaps on different hosts.
_CLOCK_SKEW_S = 1.0


class DeliveredLog:
    """(event id, sink) pairs delivered within the look-back window, from the topic and from this process."""

    def __init__(self, kafka: KafkaSettings, topic: str, lookback_s: float) -> None:
        self._lookback_s = lookback_s
        self._seen: dict[tuple[str, str], float] = {}
        self._reader = TopicReader(kafka, topic, self._apply)
        self._pruned_at = time.time()

    def _apply(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        try:
            d = decode(Delivery, rec.value)
        except DecodeError:
            return  # not ours to judge; the deliveries topic is a record, not an input
        if d.status == "delivered":
            self._seen[(d.event_id, d.sink)] = d.at.timestamp()

    async def start(self) -> None:
        if self._lookback_s <= 0:
            return
        since = datetime.now(UTC) - timedelta(seconds=self._lookback_s)
        n = await self._reader.start(since=since)
        log.info("delivery.history_loaded", records=n, delivered=len(self._seen))

    async def catch_up(self) -> None:
        """Learn what other instances delivered (called when partitions move to this one)."""
        if self._lookback_s > 0:
            await self._reader.catch_up()

    def seen(self, event_id: str, sink: str, matched_at: datetime) -> bool:
        """Whether the sink received this alert: a delivery after its match; an older one was of an earlier alert
        for the same story and rule, before the suppression window let it alert again."""
        at = self._seen.get((event_id, sink))
        return at is not None and at >= matched_at.timestamp() - _CLOCK_SKEW_S

    def add(self, event_id: str, sink: str) -> None:
        now = time.time()
        self._seen[(event_id, sink)] = now
        if now - self._pruned_at > 600:
            self._pruned_at = now
            cutoff = now - max(self._lookback_s, 600)
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}

    async def stop(self) -> None:
        await self._reader.stop()
