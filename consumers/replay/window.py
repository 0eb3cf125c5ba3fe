"""The offsets a time range covers in each partition, found with Kafka's offsets-for-times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.replay.offsets import explicit_spans
from consumers.replay.request import ReplayInputError, ReplayRequest
from monitor.settings import KafkaSettings
from monitor.stream.reader import TopicMissing, partitions


@dataclass(frozen=True)
class Span:
    """The records of one partition to replay: offsets `start` (inclusive) to `end` (exclusive)."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def _first_at(consumer: AIOKafkaConsumer, tps: list[TopicPartition], at: datetime) -> dict[TopicPartition, int]:
    """Each partition's first offset whose timestamp is at or after `at`; its end offset when none is."""
    found = await consumer.offsets_for_times(dict.fromkeys(tps, to_ms(at)))
    ends = await consumer.end_offsets(tps)
    return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}


async def resolve_spans(
    consumer: AIOKafkaConsumer, topic: str, partitions: list[int], since: datetime, until: datetime | None
) -> list[Span]:
    """The spans of `[since, until)` in each partition (until the current end when `until` is None)."""
    tps = [TopicPartition(topic, p) for p in partitions]
    starts = await _first_at(consumer, tps, since)
    ends = await _first_at(consumer, tps, until) if until is not None else await consumer.end_offsets(tps)
    return [Span(tp.partition, starts[tp], max(starts[tp], ends[tp])) for tp in tps]


def chosen_partitions(available: list[int], wanted: tuple[int, ...], topic: str) -> list[int]:
    """The partitions to read: those asked for (each must exist), else all of them."""
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise ReplayInputError(f"topic {topic} has no partition {', '.join(map(str, missing))} "
                               f"(it has {', '.join(map(str, available))})")  # fmt: skip
    return sorted(wanted) if wanted else available


async def range_spans(kafka: KafkaSettings, consumer: AIOKafkaConsumer, req: ReplayRequest) -> list[Span]:
    """The spans of the request's explicit offsets, or of its partitions and time range; ReplayInputError when they
    hold no record."""
    try:
        available = await partitions(kafka, req.topic)
    except TopicMissing as exc:
        raise ReplayInputError(str(exc)) from exc
    if req.offsets:
        spans = [Span(*x) for x in await explicit_spans(consumer, req.topic, available, req.offsets)]
        if not sum(s.size for s in spans):
            raise ReplayInputError(f"--offsets: the ranges hold no records of {req.topic}")
        return spans
    parts = chosen_partitions(available, req.filters.partitions, req.topic)
    spans = await resolve_spans(consumer, req.topic, parts, req.since, req.until)
    if not sum(s.size for s in spans):
        until = req.until.isoformat() if req.until else "now"
        raise ReplayInputError(f"{req.topic} holds no records from {req.since.isoformat()} to {until}")
    return spans
