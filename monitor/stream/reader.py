"""Reading topics outside a consumer group: partitions, read-to-end, and a reader that catches up when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from monitor.settings import KafkaSettings
from monitor.stream.clients import make_admin, make_consumer, start_client

OnRecord = Callable[[ConsumerRecord[bytes, bytes]], None]


class TopicMissing(Exception):
    """The topic does not exist (permanent until someone creates it)."""


async def partitions(kafka: KafkaSettings, topic: str) -> list[int]:
    """The partition numbers of a topic, asked of the cluster (a fresh client knows no metadata yet)."""
    admin = make_admin(kafka)
    await start_client(admin, kafka)
    try:
        # Asked before describing it, so looking never creates the topic on a broker that auto-creates.
        if topic not in set(await admin.list_topics()):
            raise TopicMissing(f"topic {topic} does not exist (start a poller or run `newsmon topics --create`)")
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [t for t in described if t.get("topic") == topic and t.get("error_code", 0) == 0]
    if not found or not found[0]["partitions"]:
        raise TopicMissing(f"topic {topic} does not exist")
    return sorted(p["partition"] for p in found[0]["partitions"])


async def rewind(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """Seek the partitions to their beginning; the end offsets to reach, for those holding any record."""
    begin = await consumer.beginning_offsets(tps)
    end = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, begin[tp])
    return {tp: end[tp] for tp in tps if end[tp] > begin[tp]}


async def unreached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Those of `ends` whose position is still short of the end offset."""
    return {tp: end for tp, end in ends.items() if await consumer.position(tp) < end}


async def read_to_end(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], on_record: OnRecord, timeout_s: float = 60.0
) -> int:
    """Hand every record up to `ends` to `on_record`; return how many. TimeoutError when the end is not reached."""
    n = 0
    async with asyncio.timeout(timeout_s):
        ends = await unreached(consumer, ends)
        while ends:
            # Only partitions still short of their end: a caught-up one must not hold up the others.
            batch = await consumer.getmany(*ends, timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    on_record(rec)
                n += len(records)
            ends = await unreached(consumer, ends)
    return n


def reading_consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer outside any group with short fetch waits: reading to an end must not wait on idle partitions."""
    return make_consumer(kafka, group_id=None, fetch_max_wait_ms=100, retry_backoff_ms=20)


class TopicReader:
    """Feeds every record of a topic to `on_record`, from the beginning or from a point in time."""

    def __init__(self, kafka: KafkaSettings, topic: str, on_record: OnRecord) -> None:
        self._kafka = kafka
        self._topic = topic
        self._on_record = on_record
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def start(self, since: datetime | None = None, timeout_s: float = 60.0) -> int:
        """Open the reader and read to the current end; return how many records were read."""
        self._tps = [TopicPartition(self._topic, p) for p in await partitions(self._kafka, self._topic)]
        # Default waits: this consumer stays open for the stage's life, through broker outages.
        consumer = make_consumer(self._kafka, group_id=None)
        await consumer.start()
        self._consumer = consumer
        consumer.assign(self._tps)
        if since is None:
            await consumer.seek_to_beginning(*self._tps)
        else:
            await _seek_to_time(consumer, self._tps, since)
        return await self.catch_up(timeout_s)

    async def catch_up(self, timeout_s: float = 60.0) -> int:
        """Read what was written since the last call, up to the end offsets of this moment."""
        if self._consumer is None:
            return 0
        ends = await self._consumer.end_offsets(self._tps)
        return await read_to_end(self._consumer, ends, self._on_record, timeout_s)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


async def _seek_to_time(consumer: AIOKafkaConsumer, tps: list[TopicPartition], since: datetime) -> None:
    """Seek each partition to its first record at or after `since`, or to its end when it has none."""
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    for tp in tps:
        at = found.get(tp)
        if at is None:
            await consumer.seek_to_end(tp)
        else:
            consumer.seek(tp, at.offset)
