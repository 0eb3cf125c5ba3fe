"""Dead letters: the one way to build one from a record, and producing a batch whose refused records are lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Literal

from aiokafka import AIOKafkaProducer, ConsumerRecord

from monitor.messages import DeadLetter, encode, encode_key
from monitor.stream.produce import Outgoing, produce_retrying

ErrorClass = Literal["permanent", "bad_input", "exhausted"]


def letter(
    value: bytes | None,
    key: bytes | str | None,
    source_topic: str,
    reason: str,
    error_class: ErrorClass = "bad_input",
    attempts: int = 1,
) -> DeadLetter:
    """The dead letter of one input that cannot be processed, with the reason."""
    return DeadLetter.of(
        value, source_key=key, reason=reason, source_topic=source_topic, error_class=error_class, attempts=attempts
    )


def of_record(
    rec: ConsumerRecord[bytes, bytes], reason: str, error_class: ErrorClass = "bad_input", attempts: int = 1
) -> DeadLetter:
    """The dead letter of a record read from a topic."""
    return letter(rec.value, rec.key, rec.topic, reason, error_class, attempts)


def outgoing(dlq_topic: str, dead: DeadLetter) -> Outgoing:
    """The record that writes a dead letter to the dead-letter topic."""
    return Outgoing(dlq_topic, encode_key(dead), encode(dead))


async def produce_or_dead_letter(
    producer: AIOKafkaProducer,
    records: Sequence[Outgoing],
    letters: Sequence[Outgoing],
    letter_for: Callable[[int, str], Outgoing],
    *,
    stage: str,
    stop: asyncio.Event | None = None,
) -> set[int] | None:
    """Produce records and dead letters through broker outages; a record refused as too large is dead-lettered
    instead (`letter_for(index, reason)`), so one record never stalls the stage.

    Return the indexes of the records dead-lettered, None when stopped meanwhile.
    """
    rejected = await produce_retrying(producer, [*records, *letters], stage=stage, stop=stop)
    if rejected is None:
        return None
    if any(r.index >= len(records) for r in rejected):
        raise RuntimeError("the broker refused a dead letter")  # bounded by DeadLetter.of: a bug, not bad input
    late = [letter_for(r.index, r.reason) for r in rejected]
    refused = await produce_retrying(producer, late, stage=stage, stop=stop) if late else []
    if refused is None:
        return None
    if refused:
        raise RuntimeError("the broker refused a dead letter")
    return {r.index for r in rejected}
