"""The classifier stage: `news.raw` -> classify in batches -> `news.classified`, committing only what was produced.

Batches are pipelined: while one batch's messages are being produced and committed, the next is being scored, so
neither the scoring cores nor the broker round trips wait for each other. Batches are produced and committed in
the order they were read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from classifiers.model import NewsClassifier
from consumers.classify import metrics as classify_metrics
from consumers.classify.scoring import Scored, Scorer
from monitor.ops.consumer import ConsumerWatch
from monitor.ops.readiness import Readiness
from monitor.settings import Settings
from monitor.stream import dead_letter
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.dead_letter import produce_or_dead_letter
from monitor.stream.offsets import OffsetTracker, commit
from monitor.stream.produce import Outgoing
from monitor.stream.rebalance import OnPartitions, Rebalance

log = structlog.get_logger(__name__)
# Batches read ahead of the one being produced: one is enough to keep the scorers busy during a round trip.
_READ_AHEAD = 1


@dataclass
class _Batch:
    records: list[ConsumerRecord[bytes, bytes]]
    scoring: asyncio.Future[Scored]
    started: float


def _letter(topic: str, rec: ConsumerRecord[bytes, bytes], reason: str) -> Outgoing:
    return dead_letter.outgoing(topic, dead_letter.of_record(rec, reason))


async def _produce(
    producer: AIOKafkaProducer, settings: Settings, records: list[ConsumerRecord[bytes, bytes]], scored: Scored
) -> int:
    """Produce a batch's results; an item too large to produce is dead-lettered. Return how many were rejected."""
    dlq = settings.topics.dead_letter
    out = [Outgoing(settings.topics.classified, key, value) for _, key, value in scored.messages]
    letters = [_letter(dlq, records[index], reason) for index, reason in scored.bad]
    # Retried through broker outages (the batch stays uncommitted meanwhile); only a fatal error stops the stage.
    refused = await produce_or_dead_letter(
        producer, out, letters, lambda i, reason: _letter(dlq, records[scored.messages[i][0]], reason), stage="classify"
    )
    classify_metrics.STAGE.bad_input(len(letters) + len(refused or ()))
    return len(refused or ())


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
    tracker = OffsetTracker()
    consumer = make_consumer(settings.kafka, group_id=cs.group_id, max_poll_records=cs.batch_size)
    # Records of revoked partitions belong to their next owner, which re-reads them from the last commit.
    consumer.subscribe([settings.topics.raw], listener=Rebalance(revoked=_forgetting(tracker)))
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
                    inflight.append(_Batch(records, scoring, time.monotonic()))
                    _track(tracker, records, tracker.add)
                    read = True
            if inflight and (not read or len(inflight) > _READ_AHEAD):
                finished = inflight.popleft()
                n = await _finish(consumer, producer, settings, tracker, finished)
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


def _forgetting(tracker: OffsetTracker) -> OnPartitions:
    async def forget(revoked: set[TopicPartition]) -> None:
        tracker.forget(revoked)

    return forget


def _track(
    tracker: OffsetTracker, records: list[ConsumerRecord[bytes, bytes]], step: Callable[[TopicPartition, int], None]
) -> None:
    for rec in records:
        step(TopicPartition(rec.topic, rec.partition), rec.offset)


async def _finish(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, settings: Settings, tracker: OffsetTracker, b: _Batch
) -> int:
    """Produce a scored batch, then commit what is finished of the partitions still owned; return items classified."""
    scored = await b.scoring
    too_large = await _produce(producer, settings, b.records, scored)
    _track(tracker, b.records, tracker.done)
    offsets = tracker.to_commit()
    if not await commit(consumer, offsets, "classifier"):
        # Not committed (logged by commit): the batch's partitions still owned are read again from the last commit.
        await _seek_committed(consumer, list({TopicPartition(r.topic, r.partition) for r in b.records}))
        return 0
    tracker.committed(offsets)
    if scored.bad or too_large:
        log.warning("classifier.bad_input", undecodable=len(scored.bad), too_large=too_large,
                    topic=settings.topics.dead_letter)  # fmt: skip
    log.debug("classifier.batch", items=len(scored.messages), ms=round((time.monotonic() - b.started) * 1000))
    return len(scored.messages) - too_large


async def _seek_committed(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
    try:
        await consumer.seek_to_committed(*[tp for tp in tps if tp in consumer.assignment()])
    except Exception as exc:  # the partitions may no longer be ours; the next owner reads from the commit
        log.info("classifier.seek_skipped", error=repr(exc))
