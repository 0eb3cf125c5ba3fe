"""Per-feed poller state kept in a compacted Kafka topic, so a restarted poller resumes where it stopped."""

from __future__ import annotations

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition

from monitor.kafka import make_consumer
from monitor.messages import DecodeError, FeedState, decode, encode, encode_key
from monitor.settings import KafkaSettings

log = structlog.get_logger(__name__)


class FeedStateStore:
    """The latest FeedState of every feed: read fully from the topic at start, written through on change."""

    def __init__(self, kafka: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._states: dict[str, FeedState] = {}

    async def load(self) -> int:
        """Read the topic from the beginning to its current end; return how many feeds have state."""
        parts = await self._producer.partitions_for(self._topic)
        tps = [TopicPartition(self._topic, p) for p in sorted(parts)]
        consumer = make_consumer(self._kafka, group_id=None)
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        self._apply(rec.key, rec.value)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        return len(self._states)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:  # tombstone: the feed was removed
            self._states.pop(key.decode(), None)
            return
        try:
            state = decode(FeedState, value)
        except DecodeError as exc:
            log.warning("feed_state.undecodable", key=key.decode(errors="replace"), error=str(exc))
            return
        self._states[state.feed_id] = state

    def get(self, feed_id: str) -> FeedState | None:
        return self._states.get(feed_id)

    async def put(self, state: FeedState) -> None:
        """Write the state and wait for the broker's acknowledgement before remembering it."""
        await self._producer.send_and_wait(self._topic, encode(state), key=encode_key(state))
        self._states[state.feed_id] = state
