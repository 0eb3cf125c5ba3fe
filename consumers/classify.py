"""The classifier stage: `news.raw` -> classify in batches -> `news.classified`, committing only what was produced."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from classifiers.model import NewsClassifier
from monitor.kafka import make_consumer, make_producer
from monitor.messages import ClassifiedItem, DeadLetter, DecodeError, RawItem, decode, encode, encode_key
from monitor.settings import Settings

log = structlog.get_logger(__name__)
_EXPLAIN_TOP = 5


def classify_records(
    model: NewsClassifier, records: list[ConsumerRecord[bytes, bytes]]
) -> tuple[list[ClassifiedItem], list[tuple[ConsumerRecord[bytes, bytes], str]]]:
    """Decode and classify one batch; return the classified items and the records that were bad input."""
    items: list[RawItem] = []
    bad: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
    for rec in records:
        try:
            items.append(decode(RawItem, rec.value))
        except DecodeError as exc:
            bad.append((rec, str(exc)))
    preds = model.predict([(i.title, i.summary) for i in items], explain=_EXPLAIN_TOP)
    out = [
        ClassifiedItem(item=i, scores=p.scores, labels=p.labels, model=model.version,
                       places=p.places, explanation=p.explanation)
        for i, p in zip(items, preds, strict=True)
    ]  # fmt: skip
    return out, bad


async def _produce(
    producer: AIOKafkaProducer, settings: Settings, classified: list[ClassifiedItem],
    bad: list[tuple[ConsumerRecord[bytes, bytes], str]],
) -> None:  # fmt: skip
    futures = [await producer.send(settings.topics.classified, encode(c), key=encode_key(c)) for c in classified]
    for rec, reason in bad:
        letter = DeadLetter(
            source_topic=rec.topic, source_key=(rec.key or b"").decode("utf-8", "replace"), reason=reason,
            error_class="bad_input", payload=(rec.value or b"").decode("utf-8", "replace")[:100_000], attempts=1,
        )  # fmt: skip
        futures.append(await producer.send(settings.topics.dead_letter, encode(letter), key=encode_key(letter)))
    if futures:
        await asyncio.gather(*futures)


async def run_classifier(settings: Settings, stop: asyncio.Event, model: NewsClassifier | None = None) -> None:
    """Run until stopped; the batch in hand when stop arrives is finished and committed first."""
    cs = settings.classifier
    if model is None:
        model = await asyncio.to_thread(NewsClassifier.load, cs.model_dir, cs.model_version)
    log.info("classifier.model_loaded", model=model.version, seconds=model.meta.get("load_seconds"))
    consumer = make_consumer(settings.kafka, settings.topics.raw, group_id=cs.group_id, max_poll_records=cs.batch_size)
    producer = make_producer(settings.kafka, linger_ms=20)
    await producer.start()
    await consumer.start()
    done = 0
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=cs.batch_size)
            records = [r for recs in batch.values() for r in recs]
            if not records:
                continue
            started = time.monotonic()
            # CPU-bound work leaves the event loop free for heartbeats and fetches.
            classified, bad = await asyncio.to_thread(classify_records, model, records)
            await _produce(producer, settings, classified, bad)
            offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
            try:
                await consumer.commit(offsets)
            except CommitFailedError as exc:
                # The partitions moved to another member during the batch; it re-reads them (at least once).
                log.warning("classifier.commit_lost_to_rebalance", error=str(exc), records=len(records))
                await _seek_committed(consumer, list(offsets))
                continue
            done += len(classified)
            if bad:
                log.warning("classifier.bad_input", count=len(bad), topic=settings.topics.dead_letter)
            log.debug("classifier.batch", items=len(classified), ms=round((time.monotonic() - started) * 1000))
    finally:
        await consumer.stop()
        await producer.stop()
        log.info("classifier.stopped", classified=done)


async def _seek_committed(consumer: object, tps: list[TopicPartition]) -> None:
    seek = getattr(consumer, "seek_to_committed", None)
    if seek is not None:
        try:
            await seek(*[tp for tp in tps if tp in consumer.assignment()])  # type: ignore[attr-defined]
        except Exception as exc:  # the partitions may no longer be ours; the next owner reads from the commit
            log.info("classifier.seek_skipped", error=repr(exc))
