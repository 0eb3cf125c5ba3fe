"""Per-feed poller state kept in a compacted Kafka topic, so a restarted poller resumes where it stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Container, Iterable

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition

from monitor.messages import DecodeError, FeedState, decode, encode, encode_key
from monitor.settings import KafkaSettings
from monitor.stream.clients import make_consumer

log = structlog.get_logger(__name__)


async def read_latest(
    kafka: KafkaSettings,
    topic: str,
    partitions: Iterable[int],
    timeout_s: float = 60.0,
    keys: Container[bytes] | None = None,
) -> dict[bytes, bytes | None]:
    """The latest value of every key (or of those in `keys`) of a compacted topic, from its beginning to its end then.

    A tombstone maps to None. Raises TimeoutError when the broker does not deliver the records in time.
    """
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    latest: dict[bytes, bytes | None] = {}
    # Short fetch and metadata waits: start-up reads this way, and a caught-up partition must not hold up the others.
    consumer = make_consumer(kafka, group_id=None, fetch_max_wait_ms=100, retry_backoff_ms=20)
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if end[tp] > begin[tp]}
            consumer.assign(list(remaining))
            for tp in remaining:
                consumer.seek(tp, begin[tp])
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=1000)
                for records in batch.values():
                    for rec in records:
                        if rec.key is not None and (keys is None or rec.key in keys):
                            latest[rec.key] = rec.value
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return latest


# Pydantic gives every model instance its own set of the fields it was built with (over 2 KB for a decoded or
# copied FeedState, one per feed); nothing reads it, so every state kept in memory shares this one.
_FIELDS_SET = set(FeedState.model_fields)


def compact(state: FeedState) -> FeedState:
    """The same state, for keeping in memory: it shares its fields-set with every other state kept."""
    if state.__pydantic_fields_set__ is _FIELDS_SET:
        return state
    return FeedState.model_construct(_FIELDS_SET, **state.__dict__)


class FeedStateStore:
    """The latest FeedState of every feed: read fully from the topic at start, written through on change."""

    def __init__(self, kafka: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._states: dict[str, FeedState] = {}

    async def load(self) -> int:
        """Read the topic from the beginning to its current end; return how many feeds have state."""
        for key, value in (await self._read()).items():
            self._apply(key, value)
        return len(self._states)

    async def refresh(self, feed_ids: set[str]) -> int:
        """Replace these feeds' states with the topic's latest (another poller may have polled them); return found."""
        # Only these feeds' records are kept while reading: the topic holds every poller's feeds.
        latest = await self._read({f.encode() for f in feed_ids})
        for feed_id in feed_ids:
            value = latest.get(feed_id.encode())
            if value is None:  # never polled, or removed: start from scratch
                self._states.pop(feed_id, None)
            else:
                self._apply(feed_id.encode(), value)
        return sum(1 for f in feed_ids if f in self._states)

    async def _read(self, keys: Container[bytes] | None = None) -> dict[bytes, bytes | None]:
        parts = await self._producer.partitions_for(self._topic)
        return await read_latest(self._kafka, self._topic, parts, keys=keys)

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
        self._states[state.feed_id] = compact(state)

    def get(self, feed_id: str) -> FeedState | None:
        return self._states.get(feed_id)

    async def put(self, state: FeedState) -> None:
        """Write the state and wait for the broker's acknowledgement before remembering it."""
        await self._producer.send_and_wait(self._topic, encode(state), key=encode_key(state))
        self._states[state.feed_id] = compact(state)
