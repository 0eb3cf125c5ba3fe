"""Producing a record, and reading a whole topic, its end offsets and a group's committed offsets back, in tests."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from monitor.settings import KafkaSettings
from monitor.stream.clients import make_producer


async def read_topic(
    bootstrap: str, topic: str, *, expect: int | None = None, timeout_s: float = 20.0, idle_s: float = 1.5
) -> list[ConsumerRecord[bytes, bytes]]:
    """All records of a topic: until `expect` arrived (or timeout), else until nothing came for idle_s."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            got = [r for recs in batch.values() for r in recs]
            if got:
                out.extend(got)
                last = loop.time()
            if expect is not None and len(out) >= expect:
                # Stay a moment longer so an unexpected duplicate would still be seen.
                extra = await consumer.getmany(timeout_ms=int(idle_s * 1000))
                out.extend(r for recs in extra.values() for r in recs)
                break
            if expect is None and loop.time() - last > idle_s:
                break
    finally:
        await consumer.stop()
    return out


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The offset the next record of each partition of `topic` will get."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return {tp.partition: off for tp, off in ends.items()}


async def committed_offsets(bootstrap: str, group_id: str, topic: str) -> dict[int, int]:
    """What consumer group `group_id` has committed for each partition of `topic` (absent: nothing committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


async def group_caught_up(bootstrap: str, group_id: str, topic: str) -> bool:
    """Whether the group has committed every partition of `topic` up to its end (and the topic is not empty)."""
    ends = await end_offsets(bootstrap, topic)
    done = await committed_offsets(bootstrap, group_id, topic)
    return any(ends.values()) and all(done.get(p, 0) == end for p, end in ends.items())


async def produce_one(kafka: KafkaSettings, topic: str, value: bytes, key: bytes = b"k") -> None:
    """Produce one record with the project's producer for these settings, and wait for its acknowledgement."""
    producer = make_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
