"""The `ingest` stage: register the feed list, then poll this process's share of the feeds into `news.raw`."""

from __future__ import annotations

import asyncio

import structlog

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import make_session
from monitor.ingest.poller import FeedPoller
from monitor.ingest.registry import RegistryMember, sync_config
from monitor.ingest.scheduler import Scheduler
from monitor.ingest.state import FeedStateStore
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import Settings
from monitor.stream.clients import make_producer

log = structlog.get_logger(__name__)


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
