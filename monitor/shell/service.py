"""The stages in one process: the local broker (if configured), the topics, the ops server, a task per stage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import structlog

from monitor.broker import LocalBroker
from monitor.broker.local import BrokerUse
from monitor.ops.kafka import KafkaWatch
from monitor.ops.readiness import Readiness
from monitor.ops.server import serve_ops
from monitor.ops.status import StatusBoard
from monitor.settings import Settings
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
            # One turn of the loop runs each stage to its first await, where it registers its checks: until then,
            # the checks so far would all hold and `/readyz` would say ready too early.
            await asyncio.sleep(0)
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
