"""The story stage: `news.classified` -> a story per item -> the story's record on `news.stories` (compacted) and
the item with its story id on `news.storied`; offsets are committed only once both are acknowledged.

Open stories are rebuilt from `news.stories` and their first members' signatures from `newsmon.story-signatures`
(written once per member, so a story's record does not carry them) at start-up, so a restart neither splits a story
nor reopens one: an item read again after a crash is found among the members and keeps its story. The stories of
a window are global, so one member of the group assigns them (scale-out by a blocking key is not built yet).

A batch is assigned (by the keeper, in a process of its own or in this loop: worker.py) while the one before it is
produced and the one after it is read; it is produced once the one before is acknowledged and committed, so records
reach each topic in the order they were made and offsets are committed in order.
"""

from __future__ import annotations

import asyncio
import gc
from functools import partial
from typing import TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from consumers.stories import metrics
from consumers.stories.keeper import Batch, Read
from consumers.stories.records import by_story
from consumers.stories.worker import Keeping, keeper_for
from monitor.messages import Story, StorySignature, decode
from monitor.ops.consumer import ConsumerWatch
from monitor.ops.readiness import Readiness
from monitor.settings import Settings
from monitor.stream import dead_letter
from monitor.stream.clients import make_consumer, make_producer, start_client
from monitor.stream.offsets import commit
from monitor.stream.produce import Outgoing, produce_retrying
from monitor.stream.table import read_latest

log = structlog.get_logger(__name__)
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Fetched: TypeAlias = "dict[TopicPartition, list[Record]]"


async def _signatures(settings: Settings) -> dict[str, list[str]]:
    """The first members' signatures of every story, from the signatures topic; unreadable records are logged."""
    records = await read_latest(settings.kafka, settings.topics.story_signatures, partial(decode, StorySignature))
    return by_story(list(records.values()))


async def run_stories(settings: Settings, stop: asyncio.Event, readiness: Readiness | None = None) -> None:
    """Run until stopped: load the open stories, then assign every classified item to one.

    Readiness: `stories.loaded` once the open stories are rebuilt, `stories.partitions` while the consumer holds
    partitions.
    """
    st = settings.stories
    ready = readiness or Readiness()
    loaded, assigned = ready.require("stories.loaded"), ready.require("stories.partitions")
    # A batch of 500 items makes a megabyte of records: in batches of up to 256 KiB instead of aiokafka's 16 KiB, the
    # broker handles a few requests per batch rather than dozens, which cost it (and this client) more than the bytes.
    producer = make_producer(settings.kafka, linger_ms=20, max_batch_size=256 << 10)
    await start_client(producer, settings.kafka)
    consumer = make_consumer(settings.kafka, settings.topics.classified, group_id=st.group_id,
                             max_poll_records=st.batch_size)  # fmt: skip
    keeper = keeper_for(settings.topics, st)
    done, opened = 0, 0
    # The batch being produced while the next one is assigned (its records go out before the next one's), and the
    # one after, fetched, decoded and signed meanwhile.
    pending: asyncio.Task[int | None] | None = None
    ahead: asyncio.Task[tuple[Fetched, Read] | None] | None = None
    watch: ConsumerWatch | None = None
    try:
        opened = await _rebuild(settings, producer, keeper, stop)
        loaded.up(f"{opened} open stories rebuilt")
        metrics.OPEN.set(opened)
        # What start-up made lives as long as the stage (the clients, the modules, the stories loaded when they are
        # kept here): frozen, it is no longer scanned by each full collection, which cost the stage a large share.
        gc.freeze()
        await start_client(consumer, settings.kafka)
        watch = ConsumerWatch(consumer, "stories", assigned, settings.metrics.lag_interval_s)
        ahead = asyncio.create_task(_fetch(consumer, keeper, st.batch_size, stop))
        while (got := await ahead) is not None:
            batch, r = got
            # While the keeper's process assigns this batch, this loop produces the one before and reads the next
            # (with the keeper in this loop, the broker works on the one before meanwhile).
            assigning = asyncio.create_task(keeper.assign(r))
            ahead = asyncio.create_task(_fetch(consumer, keeper, st.batch_size, stop))
            b = keeper.finish(r, await assigning)
            opened = b.open
            handled, pending = await _settled(pending), None
            if handled is None:
                break  # the previous batch is not committed: this one must not be either
            done += handled
            pending = asyncio.create_task(_handle(consumer, producer, settings.topics.dead_letter, batch, b, stop))
        done += await _settled(pending) or 0
    finally:
        for task in (pending, ahead):
            if task is not None and not task.done():
                task.cancel()
        keeper.close()
        if watch is not None:
            await watch.close()
        await consumer.stop()
        await producer.stop()
        log.info("stories.stopped", items=done, open=opened)


async def _rebuild(settings: Settings, producer: AIOKafkaProducer, keeper: Keeping, stop: asyncio.Event) -> int:
    """Reopen the stories of the window from their topics and tombstone those it closed; return how many are open."""
    stories = await read_latest(settings.kafka, settings.topics.stories, partial(decode, Story))
    signatures = await _signatures(settings)
    opened, tombstones = await keeper.rebuild(stories, signatures)
    log.info("stories.loaded", stories=len(stories), signatures=len(signatures), open=opened)
    if tombstones and await produce_retrying(producer, tombstones, stage="stories", stop=stop) is not None:
        log.debug("stories.closed", tombstones=len(tombstones))
    return opened


async def _fetch(
    consumer: AIOKafkaConsumer, keeper: Keeping, size: int, stop: asyncio.Event
) -> tuple[Fetched, Read] | None:
    """The next batch, decoded and signed; None once stopped."""
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=500, max_records=size)
        if batch:
            values = [r.value for recs in batch.values() for r in recs]
            metrics.STAGE.read(len(values))
            return batch, keeper.read(values)
    return None


async def _settled(pending: asyncio.Task[int | None] | None) -> int | None:
    """What the batch being produced came to: its items, or None when stopped before it was committed."""
    return 0 if pending is None else await pending


async def _handle(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, dlq: str, batch: dict[TopicPartition, list[Record]],
    b: Batch, stop: asyncio.Event,
) -> int | None:  # fmt: skip
    """Produce an assigned batch and its tombstones, then commit it; return how many items it handled (None when
    stopped during a broker outage, uncommitted)."""
    records = [r for recs in batch.values() for r in recs]
    letters = [dead_letter.outgoing(dlq, dead_letter.of_record(records[i], reason)) for i, reason in b.letters]

    def letter_for(index: int, reason: str) -> Outgoing:
        source = records[b.sources[index]] if index < len(b.sources) else records[-1]
        return dead_letter.outgoing(dlq, dead_letter.of_record(source, reason))

    lettered = await dead_letter.produce_or_dead_letter(producer, b.out + b.signatures + b.records, letters,
                                                        letter_for, stage="stories", stop=stop)  # fmt: skip
    if lettered is None:
        return None  # stopped during a broker outage: the batch is read again from the last commit
    if b.tombstones and await produce_retrying(producer, b.tombstones, stage="stories", stop=stop) is None:
        return None
    await commit(consumer, {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}, "stories")
    metrics.STAGE.wrote(len(b.out))
    metrics.STAGE.bad_input(len(b.letters) + len(lettered))
    metrics.OPEN.set(b.open)
    if b.letters or lettered:
        log.warning("stories.bad_input", undecodable=len(b.letters), too_large=len(lettered))
    log.debug("stories.batch", items=len(records), stories_changed=len(b.records), closed=len(b.tombstones))
    return len(b.out)
