"""The whole service in one process: local broker (if configured), topics, ingestion and later stages."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import structlog

from monitor.broker import LocalBroker
from monitor.broker.local import BrokerUse
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import make_session
from monitor.ingest.poller import FeedPoller
from monitor.ingest.registry import RegistryMember, sync_config
from monitor.ingest.scheduler import Scheduler
from monitor.ingest.state import FeedStateStore
from monitor.ops.kafka import KafkaWatch
from monitor.ops.readiness import Readiness
from monitor.ops.server import serve_ops
from monitor.ops.status import StatusBoard
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs

log = structlog.get_logger(__name__)

# A stage runs until the event is set, then finishes its in-flight work and returns.
Stage = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@contextlib.asynccontextmanager
async def local_broker(settings: Settings) -> AsyncIterator[None]:
    """Use the project's broker when no external cluster is configured: attach to a running one or start it.

    Processes sharing the data directory agree through its lock files: exactly one starts the broker, and the last
    one to leave stops it (unless `newsmon broker up` started it).
    """
    if not settings.kafka.local:
        yield
        return
    broker = LocalBroker(settings.kafka)
    use = BrokerUse(broker)
    log.info("broker.attaching", bootstrap=broker.bootstrap, data_dir=str(broker.data_dir))
    try:
        started = await asyncio.to_thread(use.attach_or_start)
        await broker.wait_ready()
        log.info("broker.ready", bootstrap=broker.bootstrap, started_here=started)
        yield
    finally:
        stopped = await asyncio.to_thread(use.leave)
        log.info("broker.left", stopped=stopped, started_by=broker.started_by() or None)


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_ingestion(
    settings: Settings,
    feeds: list[FeedConfig],
    stop: asyncio.Event,
    readiness: Readiness | None = None,
    status: StatusBoard | None = None,
) -> None:
    """Register the feed list, then poll this process's share of the registered feeds into `news.raw` until stopped.

    Pollers sharing `ingest.group_id` divide the registry among themselves through Kafka's group membership.
    Readiness `ingest.registry` holds once the feed list is registered and the feeds' state is loaded; the feeds
    this process polls are shown on the status page of `status`.
    """
    ready = (readiness or Readiness()).require("ingest.registry")
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        store = FeedStateStore(settings.kafka, settings.topics.feed_state, producer)
        async with make_session(settings.ingest) as session:
            scheduler = Scheduler(FeedPoller(settings, session, producer, store), store, [], settings.ingest)
            board = status or StatusBoard()
            board.watch_feeds(scheduler)
            member = RegistryMember(settings, scheduler, store)
            runner = asyncio.create_task(scheduler.run())
            registered = asyncio.Event()
            # Joining the group, registering the feed list and loading state overlap: start-up stays short.
            membership = asyncio.create_task(member.run(registered))
            stopped = asyncio.create_task(stop.wait())
            try:
                synced, known = await asyncio.gather(
                    sync_config(producer, settings.kafka, settings.topics.feed_registry, feeds), store.load()
                )
                registered.set()
                ready.up(f"{len(feeds)} configured feeds registered, state of {known} loaded")
                log.info("ingest.registry_synced", feeds=len(feeds), added=synced.added, updated=synced.updated,
                         removed=synced.removed, unchanged=synced.unchanged, feeds_with_state=known)  # fmt: skip
                await asyncio.wait({membership, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.down("stopping")
                # Polls in flight finish before this poller leaves the group, so the next owner sees their state.
                scheduler.stop()
                await runner
                member.close()
                stopped.cancel()
                await membership
                board.unwatch_feeds(scheduler)
    finally:
        await producer.stop()


async def run_service(
    settings: Settings,
    stages: dict[str, Stage],
    stop: asyncio.Event,
    readiness: Readiness | None = None,
    status: StatusBoard | None = None,
) -> None:
    """Create missing topics, then run the stages side by side until stopped; one failing stage stops all.

    Metrics, health and readiness are served on `metrics.host`:`metrics.port` meanwhile; the stages report their
    readiness into `readiness`, and the Kafka watch adds whether the cluster answers; the status page `/` shows what
    they report into `status`.
    """
    readiness = readiness or Readiness()
    # Not ready until the stages run; they register their own checks before their first await.
    starting = readiness.require("service")
    starting.down("creating topics")
    watch = KafkaWatch(settings.kafka, readiness.require("kafka"), settings.metrics.probe_interval_s)
    watching = asyncio.create_task(watch.run(stop), name="kafka-watch")
    watching.add_done_callback(_report_failure)
    try:
        async with serve_ops(settings.metrics, readiness, status or StatusBoard(readiness)):
            created = await ensure_topics(
                settings.kafka, topic_specs(settings.topics), settings.topics.replication_factor
            )
            if created:
                log.info("topics.created", topics=created)
            tasks = {asyncio.create_task(stage(stop), name=name): name for name, stage in stages.items()}
            starting.up(f"stages {', '.join(stages)} started")
            log.info("service.started", stages=list(stages))
            try:
                await _first_failure(tasks)
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


def _report_failure(task: asyncio.Task[None]) -> None:
    """Log a watch that stopped with an error when it happens: the stages go on without it."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("kafka.watch_failed", error=repr(exc))


async def _first_failure(tasks: dict[asyncio.Task[None], str]) -> None:
    """Wait until every stage has returned, or raise the first stage's error."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for t in done:
        exc = t.exception()
        if exc is not None:
            log.error("stage.failed", stage=tasks[t], error=repr(exc))
            raise exc
