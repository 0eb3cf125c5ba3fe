"""Producing with Kafka errors classified in one place: retried, dead-lettered as bad input, or fatal."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    RecordListTooLargeError,
    RecordTooLargeError,
    RequestTimedOutError,
)
from prometheus_client import Counter

from monitor.ops.metrics import ERRORS as STAGE_ERRORS

log = structlog.get_logger(__name__)

PRODUCE_ERRORS = Counter(
    "newsmon_kafka_produce_errors",
    "Failed produce requests by stage and error class (retryable, bad_input, fatal).",
    ["stage", "error_class"],
)


class ErrorClass(StrEnum):
    """What a Kafka error means for the record or the stage that met it."""

    RETRYABLE = "retryable"  # the broker or the network: the same request can succeed later
    BAD_INPUT = "bad_input"  # this record can never be produced: dead-letter it and move on
    FATAL = "fatal"  # configuration, authorization or a closed client: stop loudly


# The record itself is the problem: too large for the producer's request limit or the broker's message limit.
_BAD_INPUT = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException)
# Not marked retriable by aiokafka, yet they only say that the broker did not answer in time.
_TRANSIENT = (KafkaTimeoutError, RequestTimedOutError, KafkaConnectionError, NodeNotReadyError)


def classify_error(exc: BaseException) -> ErrorClass:
    """The one place that decides whether a Kafka error is worth a retry, the record's fault, or the end."""
    if isinstance(exc, _BAD_INPUT):
        return ErrorClass.BAD_INPUT
    if isinstance(exc, _TRANSIENT) or (isinstance(exc, KafkaError) and exc.retriable):
        return ErrorClass.RETRYABLE
    return ErrorClass.FATAL


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the broker or the producer refused for good, its position in what was given, and why."""

    index: int
    record: Outgoing
    reason: str


async def produce_all(producer: AIOKafkaProducer, records: Sequence[Outgoing]) -> list[Rejected]:
    """Produce and wait for every acknowledgement; return the records refused as bad input.

    A retryable or fatal error is raised after every send has settled, so the caller retries (at least once) or stops.
    """
    rejected: list[Rejected] = []
    sent: list[tuple[int, asyncio.Future[object]]] = []
    failed: KafkaError | None = None
    for index, rec in enumerate(records):
        try:
            sent.append((index, await producer.send(rec.topic, rec.value, key=rec.key)))
        except KafkaError as exc:
            if classify_error(exc) is not ErrorClass.BAD_INPUT:
                failed = exc
                break
            rejected.append(_reject(index, rec, exc))
    results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
    if failed is not None:
        raise failed
    for (index, _), result in zip(sent, results, strict=True):
        if isinstance(result, BaseException):
            raise _refused_by_broker(records[index], result)
    return rejected


async def produce_each(producer: AIOKafkaProducer, records: Iterable[Outgoing]) -> None:
    """Send every record, then wait for every acknowledgement; the first failure is raised once all have settled."""
    futures = [await producer.send(r.topic, r.value, key=r.key) for r in records]
    for result in await asyncio.gather(*futures, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


def _reject(index: int, rec: Outgoing, exc: BaseException) -> Rejected:
    """The record as rejected when `exc` is its own fault; otherwise `exc` is raised."""
    if classify_error(exc) is not ErrorClass.BAD_INPUT:
        raise exc
    return Rejected(index, rec, f"too large to produce to {rec.topic}: {exc}"[:1000])


class TopicLimitError(KafkaError):
    """The broker refused a batch the producer's own limit let through: the topic's limit is lower (fatal)."""


def _refused_by_broker(rec: Outgoing, exc: BaseException) -> BaseException:
    """The error to raise for a failed acknowledgement.

    A size refusal here is not one record's fault: the broker refuses the whole batch, and the idempotent producer's
    sequence is spent with it, so no record of the batch can be sent again. It means a misconfigured topic.
    """
    if classify_error(exc) is not ErrorClass.BAD_INPUT:
        return exc
    return TopicLimitError(
        f"the broker refused a batch for {rec.topic} that the producer's 1 MiB limit let through: raise the topic's "
        f"max.message.bytes to at least 1048588 (the broker default): {exc}"
    )


async def produce_retrying(
    producer: AIOKafkaProducer, records: Sequence[Outgoing], *, stage: str, stop: asyncio.Event | None = None
) -> list[Rejected] | None:
    """`produce_all`, retried with backoff while the broker is unreachable; None when stopped meanwhile.

    A fatal error is logged and raised: a stage that cannot produce at all must stop where an operator sees it.
    """
    delay = 0.2
    while True:
        try:
            return await produce_all(producer, records)
        except KafkaError as exc:
            kind = classify_error(exc)
            PRODUCE_ERRORS.labels(stage, kind.value).inc()
            STAGE_ERRORS.labels(stage, kind.value).inc()
            if kind is ErrorClass.FATAL:
                log.error("kafka.produce_fatal", stage=stage, error=repr(exc), records=len(records))
                raise
            if stop is not None and stop.is_set():
                return None
            log.warning("kafka.produce_retry", stage=stage, error=repr(exc), records=len(records), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
