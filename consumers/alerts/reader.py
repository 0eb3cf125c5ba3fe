"""Read a whole topic (every partition, no consumer group) up to its end, again whenever asked to catch up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from monitor.kafka import make_admin, make_consumer, start_client
from monitor.settings import KafkaSettings

OnRecord = Callable[[ConsumerRecord[bytes, bytes]], None]


async def partitions(kafka: KafkaSettings, topic: str) -> list[int]:
    """The partition numbers of a topic, asked of the cluster (a fresh client knows no metadata yet)."""
    admin = make_admin(kafka)
    await start_client(admin, kafka)
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [t for t in described if t.get("topic") == topic and t.get("error_code", 0) == 0]
    if not found or not found[0]["partitions"]:
        raise RuntimeError(f"topic {topic} does not exist")
    return sorted(p["partition"] for p in found[0]["partitions"])


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
        consumer = make_consumer(self._kafka, group_id=None)
        await consumer.start()
        self._consumer = consumer
        self._tps = [TopicPartition(self._topic, p) for p in await partitions(self._kafka, self._topic)]
        consumer.assign(self._tps)
        if since is None:
            await consumer.seek_to_beginning(*self._tps)
        else:
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in self._tps})
            for tp in self._tps:
                at = found.get(tp)
                if at is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, at.offset)
        return await self.catch_up(timeout_s)

    async def catch_up(self, timeout_s: float = 60.0) -> int:
        """Read what was written since the last call, up to the end offsets of this moment."""
        consumer = self._consumer
        if consumer is None:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        end = await consumer.end_offsets(self._tps)
        remaining = {tp for tp in self._tps if await consumer.position(tp) < end[tp]}
        n = 0
        while remaining:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {self._topic} did not reach its end within {timeout_s:.0f}s")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    self._on_record(rec)
                    n += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return n

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
