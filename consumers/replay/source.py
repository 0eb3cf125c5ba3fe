"""Reading spans of a topic in batches, outside any consumer group and without committing anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from consumers.replay.window import Span
from monitor.settings import KafkaSettings
from monitor.stream.clients import make_consumer

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class Replayable(Protocol):
    """What a replay reads of a record, from the broker or from a corpus file."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


def replay_consumer(kafka: KafkaSettings, run_id: str) -> AIOKafkaConsumer:
    """A consumer with no group (so no offsets are committed or moved) and a client id of its own."""
    return make_consumer(kafka, group_id=None, client_id=f"{kafka.client_id}-replay-{run_id}",
                         fetch_max_wait_ms=100, max_partition_fetch_bytes=4 * 1024 * 1024)  # fmt: skip


async def read_spans(
    consumer: AIOKafkaConsumer, topic: str, spans: list[Span], stop: asyncio.Event, batch: int = 2000
) -> AsyncIterator[list[Record]]:
    """Yield the spans' records in batches until every span is read or `stop` is set."""
    todo = {TopicPartition(topic, s.partition): s.end for s in spans if s.size}
    consumer.assign(list(todo))
    for s in spans:
        if s.size:
            consumer.seek(TopicPartition(topic, s.partition), s.start)
    while todo and not stop.is_set():
        got = await consumer.getmany(*todo, timeout_ms=500, max_records=batch)
        out: list[Record] = []
        for tp, recs in got.items():
            # A fetch may run past the span's end: those records belong to a later range.
            out.extend(r for r in recs if r.offset < todo[tp])
        todo = {tp: end for tp, end in todo.items() if await consumer.position(tp) < end}
        if out:
            yield out
