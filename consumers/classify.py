"""The classifier stage: `news.raw` -> classify in batches -> `news.classified`, committing only what was produced.

Batches are pipelined: while one batch's messages are being produced and committed, the next is being scored, so
neither the scoring cores nor the broker round trips wait for each other. Batches are produced and committed in
the order they were read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from classifiers.model import NewsClassifier
from consumers import classify_metrics
from consumers.scoring import Scored, Scorer
from monitor.messages import DeadLetter, encode, encode_key
from monitor.ops.consumer import ConsumerWatch
from monitor.ops.readiness import Readiness
from monitor.settings import Settings
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.produce import Outgoing, produce_all, produce_retrying

log = structlog.get_logger(__name__)
# Batches read ahead of the one being produced: one is enough to keep the scorers busy during a round trip.
_READ_AHEAD = 1


@dataclass
class _Batch:
    records: list[ConsumerRecord[bytes, bytes]]
    offsets: dict[TopicPartition, int]
    scoring: asyncio.Future[Scored]
    started: float


def _letter(topic: str, rec: ConsumerRecord[bytes, bytes], reason: str) -> Outgoing:
    letter = DeadLetter.of(
        rec.value, source_key=rec.key, reason=reason, source_topic=rec.topic, error_class="bad_input", attempts=1
    )
    return Outgoing(topic, encode_key(letter), encode(letter))


async def _produce(
    producer: AIOKafkaProducer, settings: Settings, records: list[ConsumerRecord[bytes, bytes]], scored: Scored
) -> int:
    """Produce a batch's results; an item too large to produce is dead-lettered. Return how many were rejected."""
    dlq = settings.topics.dead_letter
    out = [Outgoing(settings.topics.classified, key, value) for _, key, value in scored.messages]
    letters = [_letter(dlq, records[index], reason) for index, reason in scored.bad]
    # Retried through broker outages (the batch stays uncommitted meanwhile); only a fatal error stops the stage.
    rejected = await produce_retrying(producer, out + letters, stage="classify") or []
    if any(r.index >= len(out) for r in rejected):
        raise RuntimeError("the broker refused a dead letter")  # bounded by DeadLetter.of: a bug, not bad input
    late = [_letter(dlq, records[scored.messages[r.index][0]], r.reason) for r in rejected]
    if late and await produce_all(producer, late):
        raise RuntimeError("the broker refused a dead letter")
    classify_metrics.dead_lettered(len(letters) + len(late))
    return len(late)


async def run_classifier(
    settings: Settings, stop: asyncio.Event, model: NewsClassifier | None = None, readiness: Readiness | None = None
) -> None:
    """Run until stopped; batches already read when stop arrives are finished and committed first.

    Readiness: `classify.model` once every scoring worker has loaded the model, `classify.partitions` while the
    consumer holds partitions.
    """
    cs = settings.classifier
    ready = readiness or Readiness()
    model_ready, assigned = ready.require("classify.model"), ready.require("classify.partitions")
    scorer = Scorer(cs.model_dir, cs.model_version, cs.workers, model)
    await scorer.start()
    model_ready.up(f"model {scorer.version} loaded by {scorer.workers} scoring workers")
    consumer = make_consumer(settings.kafka, settings.topics.raw, group_id=cs.group_id, max_poll_records=cs.batch_size)
    producer = make_producer(settings.kafka, linger_ms=20)
    await producer.start()
    await consumer.start()
    watch = ConsumerWatch(consumer, "classify", assigned, settings.metrics.lag_interval_s)
    done = 0
    inflight: deque[_Batch] = deque()
    try:
        while not stop.is_set() or inflight:
            read = False
            if not stop.is_set() and len(inflight) <= _READ_AHEAD:
                # Wait for records only when nothing is in flight; otherwise take what has arrived and move on.
                batch = await consumer.getmany(timeout_ms=0 if inflight else 500, max_records=cs.batch_size)
                records = [r for recs in batch.values() for r in recs]
                if records:
                    classify_metrics.read(len(records))
                    scoring = asyncio.ensure_future(scorer.score([r.value for r in records]))
                    offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
                    inflight.append(_Batch(records, offsets, scoring, time.monotonic()))
                    read = True
            if inflight and (not read or len(inflight) > _READ_AHEAD):
                finished = inflight.popleft()
                n = await _finish(consumer, producer, settings, finished)
                classify_metrics.finished(n, time.monotonic() - finished.started)
                done += n
    finally:
        for b in inflight:  # only after an error: unfinished batches are re-read from the last commit
            b.scoring.cancel()
        try:
            await watch.close()
            await consumer.stop()
            await producer.stop()
        finally:
            model_ready.down("stopped")
            scorer.close()
            log.info("classifier.stopped", classified=done, model=scorer.version)


async def _finish(consumer: object, producer: AIOKafkaProducer, settings: Settings, b: _Batch) -> int:
    """Produce a scored batch, then commit its offsets; return how many items it classified."""
    scored = await b.scoring
    too_large = await _produce(producer, settings, b.records, scored)
    # A rebalance while the batch was in flight may have moved some partitions away; their new owner re-reads
    # them from the last commit (at least once), and committing them here would fail.
    owned = consumer.assignment()  # type: ignore[attr-defined]
    offsets = {tp: off for tp, off in b.offsets.items() if tp in owned}
    try:
        if offsets:
            await consumer.commit(offsets)  # type: ignore[attr-defined]
    except (CommitFailedError, IllegalStateError) as exc:
        # The partitions moved to another member during the batch; it re-reads them (at least once).
        log.warning("classifier.commit_lost_to_rebalance", error=str(exc), records=len(b.records))
        await _seek_committed(consumer, list(b.offsets))
        return 0
    if scored.bad or too_large:
        log.warning("classifier.bad_input", undecodable=len(scored.bad), too_large=too_large,
                    topic=settings.topics.dead_letter)  # fmt: skip
    log.debug("classifier.batch", items=len(scored.messages), ms=round((time.monotonic() - b.started) * 1000))
    return len(scored.messages) - too_large


async def _seek_committed(consumer: object, tps: list[TopicPartition]) -> None:
    seek = getattr(consumer, "seek_to_committed", None)
    if seek is not None:
        try:
            await seek(*[tp for tp in tps if tp in consumer.assignment()])  # type: ignore[attr-defined]
        except Exception as exc:  # the partitions may no longer be ours; the next owner reads from the commit
            log.info("classifier.seek_skipped", error=repr(exc))
