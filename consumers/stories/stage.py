"""The story stage: `news.classified` -> a story per item -> the story's record on `news.stories` (compacted) and
the item with its story id on `news.storied`; offsets are committed only once both are acknowledged.

Open stories are rebuilt from `news.stories` and their first members' signatures from `newsmon.story-signatures`
(written once per member, so a story's record does not carry them) at start-up, so a restart neither splits a story
nor reopens one: an item read again after a crash is found among the members and keeps its story. The stories of
a window are global, so one member of the group assigns them (scale-out by a blocking key is not built yet).

A batch is assigned while the one before it is produced; it is produced once that one is acknowledged and
committed, so records reach each topic in the order they were made and offsets are committed in order.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from functools import partial
from typing import TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from consumers.stories.cluster import Clusterer
from consumers.stories.facts import from_classified
from consumers.stories.params import params_from
from consumers.stories.records import by_story, grown, opened, restore, signature_record
from monitor.messages import ClassifiedItem, DecodeError, Story, StorySignature, decode, encode, encode_key
from monitor.settings import Settings
from monitor.stream import dead_letter
from monitor.stream.clients import make_consumer, make_producer, start_client
from monitor.stream.offsets import commit
from monitor.stream.produce import Outgoing, produce_retrying
from monitor.stream.table import Table, read_latest

log = structlog.get_logger(__name__)
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@dataclass
class Batch:
    """What one batch of classified items produces, each record with the input record it came from."""

    out: list[Outgoing] = field(default_factory=list)
    sources: list[Record] = field(default_factory=list)
    letters: list[Outgoing] = field(default_factory=list)
    signatures: list[Outgoing] = field(default_factory=list)
    stories: dict[str, Story] = field(default_factory=dict)
    tombstones: list[Outgoing] = field(default_factory=list)
    assigned: int = 0


class StoryKeeper:
    """The clusterer and the records of the stories it keeps open."""

    def __init__(self, settings: Settings, table: Table[Story]) -> None:
        self._settings = settings
        self._table = table
        self.clusterer = Clusterer(params_from(settings.stories))
        self._tombstones: list[Outgoing] = []

    def rebuild(self, signatures: dict[str, list[str]]) -> int:
        """Reopen every story of the table that is still inside the window; return how many are open."""
        for sid, story in sorted(self._table.items(), key=lambda kv: kv[1].last_seen):
            restore(self.clusterer, story, signatures.get(sid))
        self._close()
        return len(self.clusterer)

    def assign(self, records: list[Record]) -> Batch:
        """Assign each record's item to a story and collect the records to produce."""
        b = Batch()
        for rec in records:
            try:
                msg = decode(ClassifiedItem, rec.value)
            except DecodeError as exc:
                b.letters.append(self._letter(rec, str(exc)))
                continue
            self._one(b, rec, msg)
        return b

    def _one(self, b: Batch, rec: Record, msg: ClassifiedItem) -> None:
        f = from_classified(msg)
        a = self.clusterer.assign(f)
        if a.reason != "known":
            story = b.stories.get(a.story_id) or self._table.get(a.story_id)
            max_listed = self._settings.stories.max_listed_members
            b.stories[a.story_id] = opened(a, f, msg) if story is None else grown(story, f, msg, max_listed)
            b.assigned += 1
            sig = signature_record(a)
            if sig is not None:
                b.signatures.append(Outgoing(self._settings.topics.story_signatures, encode_key(sig), encode(sig)))
        storied = msg.model_copy(update={"story_id": a.story_id, "schema_version": ClassifiedItem.SCHEMA_VERSION})
        b.out.append(Outgoing(self._settings.topics.storied, encode_key(storied), encode(storied)))
        b.sources.append(rec)

    def story_records(self, b: Batch) -> list[Outgoing]:
        topic = self._settings.topics.stories
        return [Outgoing(topic, encode_key(s), encode(s)) for s in b.stories.values()]

    def remember(self, b: Batch) -> None:
        """Keep the batch's records, and let go of the stories closed meanwhile: memory is bounded by the window."""
        for sid, story in b.stories.items():
            self._table.remember(sid, story)
        self._close()

    def take_tombstones(self) -> list[Outgoing]:
        """The tombstones of the stories closed since the last call, and of their signatures."""
        out, self._tombstones = self._tombstones, []
        return out

    def _close(self) -> None:
        """Let go of the stories the window closed; their records are tombstoned, or compaction keeps them forever."""
        t, indexed = self._settings.topics, self.clusterer.params.indexed_members
        closed = self.clusterer.take_closed()
        for sid in closed:
            story = self._table.get(sid)
            # Signatures were written for the first members only, one slot each (none known: all slots).
            signed = min(story.member_count, indexed) if story is not None else indexed
            self._tombstones.append(Outgoing(t.stories, sid.encode(), None))
            self._tombstones += [Outgoing(t.story_signatures, StorySignature.key_of(sid, n).encode(), None)
                                 for n in range(signed)]  # fmt: skip
        self._table.forget(closed)

    @property
    def dead_letter_topic(self) -> str:
        return self._settings.topics.dead_letter

    def _letter(self, rec: Record, reason: str) -> Outgoing:
        return dead_letter.outgoing(self.dead_letter_topic, dead_letter.of_record(rec, reason))


async def _signatures(settings: Settings) -> dict[str, list[str]]:
    """The first members' signatures of every story, from the signatures topic; unreadable records are logged."""
    records = await read_latest(settings.kafka, settings.topics.story_signatures, partial(decode, StorySignature))
    return by_story(list(records.values()))


async def run_stories(settings: Settings, stop: asyncio.Event) -> None:
    """Run until stopped: load the open stories, then assign every classified item to one."""
    st = settings.stories
    producer = make_producer(settings.kafka, linger_ms=20)
    await start_client(producer, settings.kafka)
    table: Table[Story] = Table(settings.kafka, settings.topics.stories, producer, partial(decode, Story), encode)
    consumer = make_consumer(settings.kafka, settings.topics.classified, group_id=st.group_id,
                             max_poll_records=st.batch_size)  # fmt: skip
    keeper = StoryKeeper(settings, table)
    done = 0
    # The batch being produced while the next one is assigned: its records go out before the next one's.
    pending: asyncio.Task[int | None] | None = None
    try:
        loaded = await table.load()
        signatures = await _signatures(settings)
        log.info("stories.loaded", records=loaded, stories=len(table), signatures=len(signatures),
                 open=keeper.rebuild(signatures))  # fmt: skip
        await _tombstone(producer, keeper, stop)
        # What start-up made lives as long as the stage (the stories loaded, the clients, the modules): frozen, it is
        # no longer scanned by each full collection, which cost the stage a large share of its time.
        gc.freeze()
        await start_client(consumer, settings.kafka)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=st.batch_size)
            if not batch:
                continue
            b = _assign(keeper, batch)
            handled, pending = await _settled(pending), None
            if handled is None:
                break  # the previous batch is not committed: this one must not be either
            done += handled
            pending = asyncio.create_task(_handle(consumer, producer, keeper, batch, b, stop))
        done += await _settled(pending) or 0
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
        await consumer.stop()
        await table.stop()
        await producer.stop()
        log.info("stories.stopped", items=done, open=len(keeper.clusterer))


def _assign(keeper: StoryKeeper, batch: dict[TopicPartition, list[Record]]) -> Batch:
    """Assign a batch and keep its stories. The batch before it was sent while this one was fetched, so the broker
    works on it meanwhile; a worker thread was tried and cost more in contention for the interpreter than it saved."""
    records = [r for recs in batch.values() for r in recs]
    b = keeper.assign(records)
    # Kept now, before the next batch is assigned, which grows these records; the tombstones of the stories closed
    # meanwhile go out after the batch's own records, which may be the last of a story closed in the same batch.
    keeper.remember(b)
    b.tombstones = keeper.take_tombstones()
    return b


async def _settled(pending: asyncio.Task[int | None] | None) -> int | None:
    """What the batch being produced came to: its items, or None when stopped before it was committed."""
    return 0 if pending is None else await pending


async def _handle(
    consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, keeper: StoryKeeper,
    batch: dict[TopicPartition, list[Record]], b: Batch, stop: asyncio.Event,
) -> int | None:  # fmt: skip
    """Produce an assigned batch and its tombstones, then commit it; return how many items it handled (None when
    stopped during a broker outage, uncommitted)."""
    records = [r for recs in batch.values() for r in recs]
    out = b.out + b.signatures + keeper.story_records(b)
    dlq = keeper.dead_letter_topic

    def letter_for(index: int, reason: str) -> Outgoing:
        source = b.sources[index] if index < len(b.sources) else records[-1]
        return dead_letter.outgoing(dlq, dead_letter.of_record(source, reason))

    lettered = await dead_letter.produce_or_dead_letter(producer, out, b.letters, letter_for, stage="stories",
                                                        stop=stop)  # fmt: skip
    if lettered is None:
        return None  # stopped during a broker outage: the batch is read again from the last commit
    if b.tombstones and await produce_retrying(producer, b.tombstones, stage="stories", stop=stop) is None:
        return None
    await commit(consumer, {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}, "stories")
    if b.letters or lettered:
        log.warning("stories.bad_input", undecodable=len(b.letters), too_large=len(lettered))
    log.debug("stories.batch", items=len(records), stories_changed=len(b.stories), closed=len(b.tombstones))
    return len(b.out)


async def _tombstone(producer: AIOKafkaProducer, keeper: StoryKeeper, stop: asyncio.Event) -> bool:
    """Write the tombstones of the stories closed meanwhile; False when stopped during a broker outage."""
    out = keeper.take_tombstones()
    if out and await produce_retrying(producer, out, stage="stories", stop=stop) is None:
        return False
    if out:
        log.debug("stories.closed", tombstones=len(out))
    return True
