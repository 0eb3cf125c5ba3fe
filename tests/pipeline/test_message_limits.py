"""Oversized input on the real broker: one record too large to produce is dead-lettered, never a stalled stage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from classifiers.model import NewsClassifier
from consumers.classify.stage import run_classifier
from monitor.messages import Alert, ClassifiedItem, DeadLetter, decode, encode, encode_key
from monitor.settings import Settings
from monitor.stream.clients import make_consumer, make_producer
from tests.classify.test_classify_stage import raw
from tests.support.alerts import alerting, classified, fast, webhook_rules
from tests.support.kafka import read_topic

# Well past the producer's 1 MiB request limit; gzip lets the broker store it, as any client configured so could.
HUGE = 3 * 1024 * 1024


async def _produce_big(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(settings.kafka, max_request_size=8 * HUGE)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _committed_to_end(settings: Settings, topic: str, group: str) -> bool:
    """Whether the group has committed every partition of the topic up to its end."""
    consumer = make_consumer(settings.kafka, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not tps:
            tps = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
        end = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    watcher = make_consumer(settings.kafka, group_id=group)
    await watcher.start()
    try:
        committed = [await watcher.committed(tp) or 0 for tp in tps]
        return all(c >= end[tp] for c, tp in zip(committed, tps, strict=True))
    finally:
        await watcher.stop()


async def _wait_committed(settings: Settings, topic: str, group: str, timeout_s: float = 30.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await _committed_to_end(settings, topic, group):
            return True
        await asyncio.sleep(0.2)
    return False


async def test_classifier_dead_letters_an_item_too_large_to_classify_and_goes_on(
    settings: Settings, model: NewsClassifier
) -> None:
    small = [raw(i, f"Border guards detain smugglers near crossing {i}") for i in range(6)]
    huge = raw(99, "Shelling across the border").model_copy(update={"url": "https://x.example/" + "a" * HUGE})
    records = [(encode_key(i), encode(i)) for i in [*small[:3], huge, *small[3:]]]
    await _produce_big(settings, settings.topics.raw, records)

    stop = asyncio.Event()
    task = asyncio.create_task(run_classifier(settings, stop, model=model))
    try:
        out = await read_topic(settings.kafka.bootstrap_servers, settings.topics.classified, expect=len(small))
        dlq = await read_topic(settings.kafka.bootstrap_servers, settings.topics.dead_letter, expect=1)
        assert await _wait_committed(settings, settings.topics.raw, settings.classifier.group_id)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    assert sorted(decode(ClassifiedItem, r.value).item.id for r in out) == sorted(i.id for i in small)
    assert len(dlq) == 1
    letter = decode(DeadLetter, dlq[0].value)
    assert letter.source_key == huge.id and letter.error_class == "bad_input"
    assert "too large" in letter.reason
    assert letter.payload_truncated and len(letter.payload) <= DeadLetter.PAYLOAD_MAX_CHARS
    assert len(dlq[0].value) < 1024 * 1024


async def test_alert_stage_dead_letters_a_story_too_large_to_alert_and_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": "http://127.0.0.1:9/hook"})
    small = [classified(i) for i in range(6)]
    huge = classified(99, summary="shelling " * (HUGE // 9))
    records = [(c.key().encode(), encode(c)) for c in [*small[:3], huge, *small[3:]]]
    await _produce_big(s, s.topics.classified, records)

    async with alerting(s, rules, delivery=False):
        alerts = await read_topic(s.kafka.bootstrap_servers, s.topics.alerts, expect=len(small), timeout_s=30)
        dlq = await read_topic(s.kafka.bootstrap_servers, s.topics.dead_letter, expect=1, timeout_s=30)
        assert await _wait_committed(s, s.topics.classified, s.alerts.matcher_group_id)

    assert sorted(decode(Alert, r.value).item.item.id for r in alerts) == sorted(c.item.id for c in small)
    letter = decode(DeadLetter, dlq[0].value)
    assert letter.source_key == huge.item.id and letter.error_class == "bad_input"
    assert "too large" in letter.reason and letter.payload_truncated


async def test_a_topic_limit_below_the_producers_is_a_fatal_error_naming_the_setting(settings: Settings) -> None:
    """A broker refusal spends the idempotent producer's sequence for the whole batch: a stage must stop, not loop."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from monitor.stream.produce import ErrorClass, Outgoing, TopicLimitError, classify_error, produce_retrying

    topic = settings.topics.raw
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        limit = {"max.message.bytes": "20000"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=limit)])
    finally:
        await admin.close()
    # Incompressible, so the broker sees it over its limit; the producer's own 1 MiB limit lets it through.
    big = bytes.fromhex("".join(f"{(i * 2654435761) % 2**32:08x}" for i in range(20000)))
    records = [Outgoing(topic, b"k", f"small-{i}".encode()) for i in range(5)]
    records.insert(2, Outgoing(topic, b"k", big))
    producer = make_producer(settings.kafka, linger_ms=50, compression_type=None)
    await producer.start()
    try:
        with pytest.raises(TopicLimitError, match=r"max\.message\.bytes") as refused:
            await asyncio.wait_for(produce_retrying(producer, records, stage="test"), 30)
    finally:
        await producer.stop()
    assert classify_error(refused.value) is ErrorClass.FATAL
