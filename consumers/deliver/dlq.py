"""The dead-letter topic for operators: list what failed and why, and replay dead-lettered alerts for delivery.

A replay produces each alert again to `news.alerts`, addressed to the sink that failed. Replays remember how far
they got (a consumer group per sink filter), so running one twice does not deliver the same letters twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from monitor.messages import Alert, DeadLetter, DecodeError, decode, encode
from monitor.settings import Settings
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.produce import Outgoing, produce_each
from monitor.stream.reader import partitions, read_to_end

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    letter: DeadLetter | None  # None: the record itself is unreadable
    error: str = ""

    def alert(self) -> Alert | None:
        if self.letter is None:
            return None
        try:
            return decode(Alert, self.letter.payload.encode("utf-8"))
        except DecodeError:
            return None


async def _open(settings: Settings, group_id: str | None) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    consumer = make_consumer(settings.kafka, group_id=group_id)
    await consumer.start()
    topic = settings.topics.dead_letter
    try:
        tps = [TopicPartition(topic, p) for p in await partitions(settings.kafka, topic)]
    except BaseException:
        await consumer.stop()
        raise
    consumer.assign(tps)
    return consumer, tps


def _letter(rec: ConsumerRecord[bytes, bytes]) -> Letter:
    try:
        return Letter(rec.partition, rec.offset, decode(DeadLetter, rec.value))
    except DecodeError as exc:
        return Letter(rec.partition, rec.offset, None, str(exc))


async def _read_to_end(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> list[Letter]:
    out: list[Letter] = []
    await read_to_end(consumer, await consumer.end_offsets(tps), lambda rec: out.append(_letter(rec)))
    return out


async def list_letters(settings: Settings) -> list[Letter]:
    """Every dead letter still retained, oldest first."""
    consumer, tps = await _open(settings, None)
    try:
        await consumer.seek_to_beginning(*tps)
        return await _read_to_end(consumer, tps)
    finally:
        await consumer.stop()


def replay_group(settings: Settings, sink: str | None) -> str:
    return f"{settings.alerts.delivery_group_id}.dlq-replay.{sink or 'all'}"


def replayable(settings: Settings, x: Letter, sink: str | None) -> Alert | None:
    """The alert to deliver again for a letter, or None when it is not an alert (or not for this sink)."""
    letter = x.letter
    if letter is None or letter.source_topic != settings.topics.alerts or letter.error_class == "bad_input":
        return None
    if sink is not None and letter.sink != sink:
        return None
    alert = x.alert()
    if alert is None:
        return None
    # Straight to the sink that failed, at once: a replay is an operator waiting for it.
    sinks = [letter.sink] if letter.sink else alert.sinks
    return alert.model_copy(update={"sinks": sinks, "mode": "immediate", "digest_s": 0.0})


async def replay(
    settings: Settings, sink: str | None = None, *, from_beginning: bool = False, dry_run: bool = False
) -> int:
    """Produce the dead-lettered alerts (for `sink`, or all) to the alerts topic again; return how many."""
    group = replay_group(settings, sink)
    consumer, tps = await _open(settings, group)
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            for tp in tps:
                committed = await consumer.committed(tp)
                if committed is None:
                    await consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
        letters = await _read_to_end(consumer, tps)
        alerts = [a for x in letters if (a := replayable(settings, x, sink)) is not None]
        if dry_run:
            return len(alerts)
        await produce_each(producer, [Outgoing(settings.topics.alerts, a.event_id.encode(), encode(a)) for a in alerts])
        positions = {tp: OffsetAndMetadata(await consumer.position(tp), "") for tp in tps}
        await consumer.commit(positions)
        log.info("dlq.replayed", alerts=len(alerts), sink=sink or "all", letters=len(letters))
        return len(alerts)
    finally:
        await producer.stop()
        await consumer.stop()
