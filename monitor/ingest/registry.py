"""The feed registry: every feed the pollers share, in a compacted topic that Kafka's group membership divides.

Each poller joins one consumer group over the registry topic. Kafka gives each partition to exactly one live
member, so a feed (a key) is polled by one poller, and a dead poller's partitions move to the others once its
session times out. Offsets are never committed: every assignment is read again from the beginning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from pydantic import ValidationError

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.scheduler import Scheduler
from monitor.ingest.state import FeedStateStore
from monitor.messages import DecodeError, FeedRegistration, decode, encode, encode_key, utcnow
from monitor.settings import KafkaSettings, Settings
from monitor.stream.clients import make_consumer
from monitor.stream.produce import Outgoing, produce_each
from monitor.stream.reader import rewind, unreached
from monitor.stream.rebalance import Rebalance
from monitor.stream.table import Table, read_latest

log = structlog.get_logger(__name__)

Origin = Literal["config", "cli"]


def registration(feed: FeedConfig, origin: Origin, previous: FeedRegistration | None = None) -> FeedRegistration:
    """The registry record of a feed; an update keeps the time the feed was first added."""
    now = utcnow()
    return FeedRegistration(
        feed_id=feed.id,
        feed=feed.model_dump(mode="json"),
        origin=origin,
        added_at=previous.added_at if previous is not None else now,
        updated_at=now,
    )


def feed_of(reg: FeedRegistration) -> FeedConfig:
    """The feed a registration describes; per-feed options this version does not know are ignored."""
    known = {k: v for k, v in reg.feed.items() if k in FeedConfig.model_fields}
    try:
        return FeedConfig.model_validate({**known, "id": reg.feed_id})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DecodeError(f"invalid feed {reg.feed_id!r}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


def _unchanged(reg: FeedRegistration | None, feed: FeedConfig, origin: Origin) -> bool:
    return reg is not None and reg.origin == origin and reg.feed == feed.model_dump(mode="json")


async def read_registry(kafka: KafkaSettings, topic: str) -> dict[str, FeedRegistration]:
    """Every registered feed, read from the beginning of the registry to its current end (TopicMissing without it)."""
    return await read_latest(kafka, topic, partial(decode, FeedRegistration))


def _feed(value: bytes) -> FeedConfig:
    return feed_of(decode(FeedRegistration, value))


async def publish(
    producer: AIOKafkaProducer, topic: str, upserts: Iterable[FeedRegistration], removals: Iterable[str] = ()
) -> None:
    """Write registrations and tombstones, and wait until the broker acknowledged all of them."""
    records = [Outgoing(topic, encode_key(r), encode(r)) for r in upserts]
    await produce_each(producer, records + [Outgoing(topic, feed_id.encode(), None) for feed_id in removals])


@dataclass(frozen=True)
class SyncResult:
    added: int
    updated: int
    removed: int
    unchanged: int


async def sync_config(
    producer: AIOKafkaProducer, kafka: KafkaSettings, topic: str, feeds: list[FeedConfig]
) -> SyncResult:
    """Make the registry's feed-list entries match `feeds`; feeds added from the CLI stay.

    Only differences are written, so pollers starting together with the same list write the same records and
    nothing changes for the members that read them.
    """
    current = await read_registry(kafka, topic)
    wanted = {f.id for f in feeds}
    upserts = [
        registration(f, "config", current.get(f.id)) for f in feeds if not _unchanged(current.get(f.id), f, "config")
    ]
    removals = sorted(fid for fid, reg in current.items() if reg.origin == "config" and fid not in wanted)
    await publish(producer, topic, upserts, removals)
    added = sum(1 for r in upserts if r.feed_id not in current)
    return SyncResult(added, len(upserts) - added, len(removals), len(feeds) - len(upserts))


class RegistryMember:
    """This poller's share of the registry: the feeds in the partitions Kafka assigned to it, run by the scheduler.

    On revocation it stops those feeds and lets polls in flight finish, so their state is written before another
    poller takes them; on assignment it reads the partitions from the beginning and reloads the feeds' state
    (the previous owner's latest writes) before polling them.
    """

    def __init__(self, settings: Settings, scheduler: Scheduler, store: FeedStateStore) -> None:
        self._topic = settings.topics.feed_registry
        self._group = settings.ingest.group_id
        self._scheduler = scheduler
        self._store = store
        session_ms = int(settings.ingest.session_timeout_s * 1000)
        # JoinGroup waits for every member's revocation; it must end before the request itself times out.
        rebalance_ms = max(session_ms, settings.kafka.request_timeout_ms - 5000)
        self._drain_timeout_s = max(1.0, rebalance_ms / 1000 - 5.0)
        self._consumer = make_consumer(
            settings.kafka,
            group_id=settings.ingest.group_id,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(100, min(3000, session_ms // 3)),
            rebalance_timeout_ms=rebalance_ms,
        )
        self._generation = 0  # bumped by every revocation and assignment; stale work checks it and gives up
        self._partitions: set[TopicPartition] = set()
        # This member's feeds: its group consumer reads its partitions and applies each record to the table.
        self._feeds = Table(settings.kafka, self._topic, None, decode=_feed)
        self._needs_load = False
        self._loading: dict[TopicPartition, int] = {}  # end offsets still to reach before polling starts
        self._active = False
        self._closing = asyncio.Event()
        self._pending: set[asyncio.Task[None]] = set()

    async def run(self, registered: asyncio.Event) -> None:
        """Take part in the group until close(); the caller stops the scheduler first so polls end before leaving.

        Joining starts at once, but nothing is loaded before `registered` is set: the feed list that start-up
        writes into the registry is then read in one go instead of feed by feed.
        """
        self._consumer.subscribe([self._topic], listener=Rebalance(self._revoked, self._assigned))
        log.info("registry.joining", topic=self._topic, group=self._group)
        await self._consumer.start()
        try:
            while not self._closing.is_set():
                if self._needs_load and registered.is_set():
                    await self._start_loading()
                # Short waits while loading, so this poller's feeds start as soon as their partitions are read.
                loading = bool(self._partitions) and not self._active
                batch = await self._consumer.getmany(timeout_ms=50 if loading else 500)
                for tp, records in batch.items():
                    self._apply(tp, records)
                if not self._active and not self._needs_load and self._partitions and await self._caught_up():
                    await self._activate()
        finally:
            pending = list(self._pending)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._consumer.stop()

    def close(self) -> None:
        self._closing.set()

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        self._generation += 1
        self._active = False
        self._partitions = set()
        self._forget_feeds()
        self._loading = {}
        self._needs_load = False
        for task in self._pending:
            task.cancel()
        busy = self._scheduler.feed_ids(stopping=True)
        started = time.monotonic()
        await self._scheduler.remove(busy, self._drain_timeout_s)
        log.info("registry.revoked", partitions=len(revoked), feeds=len(busy),
                 drain_ms=round((time.monotonic() - started) * 1000))  # fmt: skip

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        self._generation += 1
        self._partitions = set(assigned)
        self._needs_load = bool(assigned)
        log.info("registry.assigned", partitions=sorted(tp.partition for tp in assigned))

    async def _start_loading(self) -> None:
        """Read the assigned partitions from the beginning up to their current end before polling anything."""
        generation = self._generation
        tps = list(self._partitions)
        try:
            ends = await rewind(self._consumer, tps)
        except IllegalStateError:
            return
        except KafkaError as exc:
            log.warning("registry.load_retry", error=repr(exc))
            await asyncio.sleep(1.0)
            return
        if generation != self._generation:
            return  # revoked meanwhile; the next assignment loads again
        self._forget_feeds()
        self._loading = ends
        self._needs_load = False

    async def _caught_up(self) -> bool:
        generation = self._generation
        try:
            loading = await unreached(self._consumer, self._loading)
        except IllegalStateError:
            return False
        if generation != self._generation:
            return False
        self._loading = loading
        return not loading

    async def _activate(self) -> None:
        generation = self._generation
        feeds = [feed for _, feed in self._feeds.items()]
        try:
            with_state = await self._store.refresh({f.id for f in feeds})
        except (KafkaError, TimeoutError) as exc:
            log.warning("registry.state_reload_retry", error=repr(exc))
            return
        if generation != self._generation:
            return
        self._active = True
        self._scheduler.add(feeds)
        log.info("registry.polling", partitions=sorted(tp.partition for tp in self._partitions), feeds=len(feeds),
                 with_state=with_state)  # fmt: skip

    def _apply(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        if tp not in self._partitions:
            return  # fetched before a revocation
        for rec in records:
            if rec.key is None:
                continue
            feed_id = rec.key.decode(errors="replace")
            before = self._feeds.get(feed_id)
            self._feeds.apply(rec)
            feed = self._feeds.get(feed_id)
            if not self._active:
                continue
            if rec.value is None:
                self._scheduler.discard([feed_id])
                log.info("registry.feed_removed", feed=feed_id)
            elif feed is not None and feed is not before:  # the same object: undecodable, the table kept the last
                self._on_live_change(tp, feed)

    def _forget_feeds(self) -> None:
        self._feeds.forget(feed_id for feed_id, _ in self._feeds.items())

    def _on_live_change(self, tp: TopicPartition, feed: FeedConfig) -> None:
        if self._scheduler.config_of(feed.id) is not None or not feed.enabled:
            self._scheduler.add([feed])  # restarts it with the new config, or stops it when disabled
            log.info("registry.feed_changed", feed=feed.id, enabled=feed.enabled)
            return
        task = asyncio.create_task(self._start_new(tp, feed, self._generation), name=f"registry:{feed.id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _start_new(self, tp: TopicPartition, feed: FeedConfig, generation: int) -> None:
        """Poll a feed registered while this poller owns its partition, from its latest state if it had one."""
        delay = 1.0
        while True:
            try:
                await self._store.refresh({feed.id})
                break
            except (KafkaError, TimeoutError) as exc:
                # Polling without the feed's state could repeat items another poller already produced.
                log.warning("registry.state_reload_retry", feed=feed.id, error=repr(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)
            if generation != self._generation:
                return
        # Only if nothing changed meanwhile: same generation and this exact entry is still the latest.
        if generation == self._generation and self._feeds.get(feed.id) == feed:
            self._scheduler.add([feed])
            log.info("registry.feed_added", feed=feed.id, partition=tp.partition)
