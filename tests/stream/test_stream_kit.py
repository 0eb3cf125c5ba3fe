"""The stream kit on the real broker: reading to an end, the compacted table, and commits of owned partitions only."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from monitor.settings import Settings
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.offsets import OffsetTracker, commit
from monitor.stream.produce import Outgoing, produce_each
from monitor.stream.reader import TopicReader
from monitor.stream.rebalance import Rebalance
from monitor.stream.table import Table, read_table
from tests.support.kafka import committed_offsets
from tests.support.waiting import wait_for

OnRecord = Callable[[ConsumerRecord[bytes, bytes]], None]


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = make_producer(settings.kafka)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


def _table(settings: Settings, producer: AIOKafkaProducer) -> Table[bytes]:
    return Table(settings.kafka, settings.topics.alert_state, producer, decode=bytes, encode=bytes)


@contextlib.asynccontextmanager
async def _member(
    settings: Settings, group: str, on_record: OnRecord = lambda _: None, listener: Rebalance | None = None
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer-group member of `news.raw` that keeps polling, as a stage does, until the block ends."""
    consumer = make_consumer(settings.kafka, group_id=group, session_timeout_ms=6000, heartbeat_interval_ms=500)
    consumer.subscribe([settings.topics.raw], listener=listener or Rebalance())
    await consumer.start()

    async def poll() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for rec in records:
                    on_record(rec)

    task = asyncio.create_task(poll())
    try:
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def test_reading_an_empty_topic_ends_at_once(settings: Settings) -> None:
    assert await asyncio.wait_for(read_table(settings.kafka, settings.topics.alert_state), 10) == {}
    reader = TopicReader(settings.kafka, settings.topics.raw, lambda _: None)
    try:
        assert await asyncio.wait_for(reader.start(), 10) == 0
        assert await asyncio.wait_for(reader.catch_up(), 10) == 0
    finally:
        await reader.stop()


async def test_reading_a_compacted_topic_gives_each_key_its_latest_value(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    topic = settings.topics.alert_state
    writes = [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3"), (b"k1", b"v1b"), (b"k2", None)]
    await produce_each(producer, [Outgoing(topic, k, v) for k, v in writes])

    assert await read_table(settings.kafka, topic) == {b"k1": b"v1b", b"k2": None, b"k3": b"v3"}
    assert await read_table(settings.kafka, topic, keys={b"k2", b"k3"}) == {b"k2": None, b"k3": b"v3"}
    table = _table(settings, producer)
    try:
        assert await table.load() == len(writes)
        assert dict(table.items()) == {"k1": b"v1b", "k3": b"v3"}
        await table.tombstone(["k3"])
        assert table.get("k3") is None
        assert await table.reload({"k1", "k3"}) == 1 and table.get("k1") == b"v1b"
        assert await read_table(settings.kafka, topic, keys={b"k3"}) == {b"k3": None}
    finally:
        await table.stop()


async def test_coalesced_puts_are_remembered_and_written_once_per_interval(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    table = _table(settings, producer)
    await table.reload()
    loaded = time.monotonic()
    assert not await table.put("feed", b"1", coalesce_s=60)  # loaded just now: what the topic holds is recent
    assert table.get("feed") == b"1"
    assert await table.put("feed", b"2")
    assert not await table.put("feed", b"3", coalesce_s=60)
    assert table.get("feed") == b"3"
    assert await read_table(settings.kafka, settings.topics.alert_state) == {b"feed": b"2"}
    assert await table.put("feed", b"4", coalesce_s=0.0)
    assert await read_table(settings.kafka, settings.topics.alert_state) == {b"feed": b"4"}
    table.hold("feed", b"5")  # as after a write the broker refused
    assert table.get("feed") == b"5"
    assert await table.reload({"feed"}) == 1 and table.get("feed") == b"4"
    # A reload of some keys says nothing of the others: they count as written when the whole table was read.
    assert await table.put("other", b"x", coalesce_s=time.monotonic() - loaded)


async def test_a_table_catches_up_with_other_writers_when_partitions_are_assigned(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}"
    mine, other = _table(settings, producer), _table(settings, producer)
    try:
        await mine.load()
        await other.load()
        await other.put("e1", b"first")
        await other.put("e2", b"second")
        assert mine.get("e1") is None  # written elsewhere and not read yet

        async with _member(settings, group, listener=Rebalance(assigned=lambda _: mine.catch_up())) as me:
            assert await wait_for(lambda: len(me.assignment()) == 2 and mine.get("e1") == b"first")
            await other.put("e3", b"third")
            await other.tombstone(["e1"])
            assert mine.get("e3") is None and mine.get("e1") == b"first"
            # A second member joins: partitions move, and the assignment makes this member read what changed.
            async with _member(settings, group) as newcomer:
                assert await wait_for(lambda: len(me.assignment()) == 1 and len(newcomer.assignment()) == 1)
                assert await wait_for(lambda: mine.get("e3") == b"third" and mine.get("e1") is None)
                assert mine.get("e2") == b"second"
    finally:
        await mine.stop()
        await other.stop()


def _pair(value: bytes) -> tuple[str, ...] | None:
    """Two words kept under their own key; anything else is not for the table."""
    words = tuple(value.decode().split())
    return words if len(words) == 2 else None


async def test_a_read_only_table_loads_from_a_point_in_time_and_keys_values_its_own_way(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    # As the delivery history reads its log: one record key per event, one entry per (event, sink) delivered.
    topic = settings.topics.deliveries
    await producer.send_and_wait(topic, b"e0 s1", key=b"e0", timestamp_ms=int((time.time() - 3600) * 1000))
    await produce_each(producer, [Outgoing(topic, b"e1", v) for v in (b"e1 s1", b"e1 s2", b"retrying")])
    table: Table[tuple[str, ...]] = Table(settings.kafka, topic, None, _pair, key_of=" ".join)
    try:
        assert await table.load(since=datetime.now(UTC) - timedelta(minutes=30)) == 3
        assert sorted(key for key, _ in table.items()) == ["e1 s1", "e1 s2"]
        table.forget(["e1 s1"])
        assert table.get("e1 s1") is None and table.get("e1 s2") == ("e1", "s2")
        with pytest.raises(TypeError, match="read-only"):
            await table.put("e2 s1", ("e2", "s1"))
    finally:
        await table.stop()


async def test_a_member_commits_only_the_partitions_it_still_owns(
    settings: Settings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    topic, group = settings.topics.raw, f"g{uuid.uuid4().hex[:8]}"
    for partition in (0, 1):
        for i in range(3):
            await producer.send_and_wait(topic, b"item", key=f"{partition}-{i}".encode(), partition=partition)
    tracker = OffsetTracker()

    def take(rec: ConsumerRecord[bytes, bytes]) -> None:
        tracker.add(TopicPartition(rec.topic, rec.partition), rec.offset)

    async with _member(settings, group, take) as me:
        assert await wait_for(lambda: tracker.pending == 6)
        async with _member(settings, group) as newcomer:
            # The records are still in flight here when the newcomer takes one partition over.
            assert await wait_for(lambda: len(me.assignment()) == 1 and len(newcomer.assignment()) == 1)
            (kept,) = me.assignment()
            for partition in (0, 1):
                for offset in range(3):
                    tracker.done(TopicPartition(topic, partition), offset)
            offsets = tracker.to_commit()
            assert offsets == {TopicPartition(topic, 0): 3, TopicPartition(topic, 1): 3}
            assert await commit(me, offsets, "test")
            assert await committed_offsets(kafka_bootstrap, group, topic) == {kept.partition: 3}
