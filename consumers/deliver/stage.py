"""The `deliver` stage: `news.alerts` -> sinks, at least once, a record per attempt in `news.deliveries`.

An alert's offset is committed only after every sink it goes to has it delivered or dead-lettered, with that
outcome stored in Kafka. Sinks deliver independently, so records finish out of order; each partition commits up
to its first unfinished record. After a restart, what a sink already received (per `news.deliveries`) is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import Literal

import aiohttp
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from consumers.alert.rules import RuleSet, load_rules
from consumers.deliver import metrics as delivery_metrics
from consumers.deliver.dispatcher import Job, Shared, SinkDispatcher
from consumers.deliver.history import DeliveredLog
from consumers.deliver.limits import CircuitBreaker, TokenBucket
from consumers.deliver.recorder import Recorder
from consumers.deliver.sinks import make_sink
from consumers.deliver.sinks.config import ResolvedSink, resolve_sink
from monitor.messages import Alert, DecodeError, decode
from monitor.ops.consumer import ConsumerWatch
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import Settings
from monitor.stream import dead_letter
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.offsets import OffsetTracker, commit
from monitor.stream.rebalance import Rebalance

log = structlog.get_logger(__name__)


def resolve_sinks(rules: RuleSet) -> dict[str, ResolvedSink]:
    """The sinks whose URL and secret are configured; raise ConfigError for a bad URL or a missing required one."""
    out = {}
    for name, spec in rules.sinks.items():
        resolved = resolve_sink(name, spec)
        if resolved is None:
            log.info("sink.not_configured", sink=name, type=spec.type)
        else:
            out[name] = resolved
    return out


class DeliveryStage:
    """Routes each alert to its sinks' dispatchers and commits what is finished."""

    def __init__(
        self,
        settings: Settings,
        rules: RuleSet,
        sinks: dict[str, ResolvedSink],
        readiness: Readiness | None = None,
        status: StatusBoard | None = None,
    ) -> None:
        self.settings = settings
        self._status = status
        ready = readiness or Readiness()
        self._sinks_ready, self._holding = ready.require("deliver.sinks"), ready.require("deliver.partitions")
        self.rules = rules
        self.sinks = sinks
        self.tracker = OffsetTracker()
        lookback_s = settings.alerts.dedupe_lookback_h * 3600
        self.history = DeliveredLog(settings.kafka, settings.topics.deliveries, lookback_s)
        self._jobs: dict[tuple[str, str], Job] = {}
        self._dispatchers: dict[str, SinkDispatcher] = {}
        self._side: set[asyncio.Task[None]] = set()
        self._progress = asyncio.Event()
        self._closing = asyncio.Event()
        self._warned: set[str] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._recorder: Recorder | None = None
        self._error: BaseException | None = None
        self._watch: ConsumerWatch | None = None

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what is finished, then leave the rest of the revoked partitions to their next owner."""
        await self.commit()
        self.tracker.forget(revoked)

    async def _assigned(self, _: set[TopicPartition]) -> None:
        await self.history.catch_up()  # learn what other instances delivered

    async def commit(self) -> None:
        offsets = self.tracker.to_commit()
        if offsets and self._consumer is not None and await commit(self._consumer, offsets, "delivery"):
            self.tracker.committed(offsets)

    def _targets(self, alert: Alert) -> list[str]:
        targets = [s for s in alert.sinks if s in self._dispatchers]
        for s in alert.sinks:
            if s not in self._dispatchers and s not in self._warned:
                self._warned.add(s)
                log.warning("delivery.sink_not_configured", sink=s, fallback=self.rules.fallback_sink or None)
        if not targets and self.rules.fallback_sink in self._dispatchers:
            targets = [self.rules.fallback_sink]
        return targets

    def _dead_letter(
        self, rec: ConsumerRecord[bytes, bytes], reason: str, error_class: Literal["permanent", "bad_input"]
    ) -> None:
        assert self._recorder is not None
        letter = dead_letter.of_record(rec, reason, error_class, attempts=0)
        tp = TopicPartition(rec.topic, rec.partition)
        task = asyncio.create_task(self._recorder.write([], [letter]))
        self._side.add(task)
        task.add_done_callback(self._side.discard)
        task.add_done_callback(partial(self._letter_written, tp, rec.offset))
        log.warning("delivery.dead_lettered", key=letter.source_key, error_class=error_class, reason=reason)

    def _letter_written(self, tp: TopicPartition, offset: int, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return  # shutdown: the record is read again after the restart
        if (exc := task.exception()) is not None:
            self._fail(exc)
            return
        self._finished(tp, offset)

    def _finished(self, tp: TopicPartition, offset: int) -> None:
        self.tracker.done(tp, offset)
        self._progress.set()

    def handle(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        """Hand one record's alert to its sinks; the record is finished when all of them are."""
        # Alerts are keyed by event id; the lines about this record, and the send tasks it starts, carry it.
        with structlog.contextvars.bound_contextvars(event_id=(rec.key or b"").decode(errors="replace")):
            self._handle(rec)

    def _handle(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        tp = TopicPartition(rec.topic, rec.partition)
        self.tracker.add(tp, rec.offset)
        try:
            alert = decode(Alert, rec.value)
        except DecodeError as exc:
            self._dead_letter(rec, str(exc), "bad_input")
            return
        with structlog.contextvars.bound_contextvars(item_id=alert.item.item.id):
            self._route(rec, tp, alert)

    def _route(self, rec: ConsumerRecord[bytes, bytes], tp: TopicPartition, alert: Alert) -> None:
        if self._status is not None:
            self._status.alerted([alert])
        targets = self._targets(alert)
        if not targets:
            self._dead_letter(
                rec, f"none of the sinks {alert.sinks} is configured and there is no fallback", "permanent"
            )
            return
        waiting: list[asyncio.Future[str]] = []
        for sink in targets:
            if self.history.seen(alert.event_id, sink, alert.matched_at):
                continue  # delivered before a restart or rebalance
            key = (alert.event_id, sink)
            job = self._jobs.get(key)
            if job is None:
                # The same alert twice in flight (a repeat in the topic) is sent once; both records wait for it.
                job = Job(alert, sink, asyncio.get_running_loop().create_future())
                self._jobs[key] = job
                job.future.add_done_callback(partial(self._job_done, key))
                self._dispatchers[sink].submit(job)
            waiting.append(job.future)
        if not waiting:
            self._finished(tp, rec.offset)
            return
        left = [len(waiting)]

        def one_done(_: asyncio.Future[str]) -> None:
            left[0] -= 1
            if left[0] == 0:
                self._finished(tp, rec.offset)

        for f in waiting:
            f.add_done_callback(one_done)

    def _job_done(self, key: tuple[str, str], _: asyncio.Future[str]) -> None:
        self._jobs.pop(key, None)

    async def run(self, stop: asyncio.Event) -> None:
        s, t = self.settings.alerts, self.settings.topics
        producer = make_producer(self.settings.kafka)
        await producer.start()
        self._recorder = Recorder(producer, t)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300))
        limiters: dict[str, TokenBucket] = {}
        shared = Shared(self._recorder, self.history, t.alerts, self._closing, self._fail)
        for name, cfg in self.sinks.items():
            # Sinks that post to the same webhook share its budget (Slack: about one message per second per channel).
            limiter = limiters.setdefault(cfg.destination, TokenBucket(cfg.rate_per_s, cfg.burst))
            breaker = CircuitBreaker(s.breaker_failures, s.breaker_cooldown_s)
            delivery_metrics.watch_breaker(name, breaker)
            sink = make_sink(cfg, session)
            sink.references = partial(self.history.reference, sink=name)
            self._dispatchers[name] = SinkDispatcher(sink, s, limiter, breaker, shared)
        self._sinks_ready.up(f"sinks {', '.join(self._dispatchers) or 'none'} resolved")
        try:
            await self.history.start()
            consumer = make_consumer(self.settings.kafka, group_id=s.delivery_group_id, max_poll_records=500)
            consumer.subscribe([t.alerts], listener=Rebalance(self._revoked, self._assigned))
            self._consumer = consumer
            await consumer.start()
            self._watch = ConsumerWatch(consumer, "deliver", self._holding, self.settings.metrics.lag_interval_s)
            log.info(
                "delivery.started",
                sinks={n: c.type for n, c in self.sinks.items()},
                urls={n: c.safe_url for n, c in self.sinks.items() if c.url},
            )
            last_commit = time.monotonic()
            while not stop.is_set() and self._error is None:
                room = s.max_in_flight - self.tracker.pending
                if room <= 0:
                    # Back-pressure: wait for records to finish instead of reading more.
                    self._progress.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), timeout=0.5)
                else:
                    batch = await consumer.getmany(timeout_ms=100, max_records=min(500, room))
                    for records in batch.values():
                        delivery_metrics.read(len(records))
                        for rec in records:
                            self.handle(rec)
                if time.monotonic() - last_commit >= s.commit_interval_s:
                    last_commit = time.monotonic()
                    await self.commit()
        finally:
            await self._shutdown(producer, session)
            log.info("delivery.stopped", unfinished=self.tracker.pending)
        if self._error is not None:
            raise self._error

    async def _shutdown(self, producer: AIOKafkaProducer, session: aiohttp.ClientSession) -> None:
        """Let attempts in flight finish (bounded), abandon waits and retries, commit what finished, close."""
        s = self.settings.alerts
        self._closing.set()
        for d in self._dispatchers.values():
            d.close()
        tasks = {t for d in self._dispatchers.values() for t in d.tasks} | self._side
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=s.drain_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._recorder is not None:
            await self._recorder.drain(5.0)
        try:
            await asyncio.wait_for(self.commit(), timeout=10)
        except TimeoutError:
            log.warning("delivery.final_commit_timeout", unfinished=self.tracker.pending)
        for d in self._dispatchers.values():
            await d.sink.close()
        await session.close()
        if self._watch is not None:
            await self._watch.close()
        if self._consumer is not None:
            await self._consumer.stop()
        await self.history.stop()
        await producer.stop()


async def run_delivery(
    settings: Settings,
    stop: asyncio.Event,
    rules: RuleSet | None = None,
    sinks: dict[str, ResolvedSink] | None = None,
    readiness: Readiness | None = None,
    status: StatusBoard | None = None,
) -> None:
    """Run until stopped; alerts in flight at stop are finished (bounded) or left uncommitted for the next run.

    Readiness: `deliver.sinks` once the sinks are resolved and set up, `deliver.partitions` while the consumer holds
    partitions. The alerts read are shown on the status page of `status`.
    """
    rules = rules or load_rules(settings.alerts.rules_file)
    sinks = sinks if sinks is not None else resolve_sinks(rules)
    await DeliveryStage(settings, rules, sinks, readiness, status).run(stop)
