"""The story stage's work on a batch, apart from the broker: `news.classified` values in, every record the batch
produces out (the items with their stories, new signatures, changed and closed stories' records), encoded.

The work is in three steps, so that the one that keeps state can run in a process of its own while the stage's
process does the others: `read` (decode, sign: no state), `StoryKeeper.assign` (cluster, grow the stories' records),
and `finish` (the items with their stories and the signature records: no state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from consumers.stories.cluster import Clusterer
from consumers.stories.facts import from_classified, text_of
from consumers.stories.params import params_from
from consumers.stories.records import Joined, StoryRecord, merged, restore
from consumers.stories.text import encode_signature, signature
from monitor.messages import (
    DecodeError,
    Story,
    StorySignature,
    StoryView,
    decode_view,
    encode,
    encode_key,
    with_story,
)
from monitor.settings import StorySettings, TopicSettings
from monitor.stream.produce import Outgoing


@dataclass
class Batch:
    """Every record one batch of classified values produces; `sources[n]` is the index of the value `out[n]` is."""

    out: list[Outgoing] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    letters: list[tuple[int, str]] = field(default_factory=list)  # (index of an undecodable value, why)
    signatures: list[Outgoing] = field(default_factory=list)
    records: list[Outgoing] = field(default_factory=list)  # of the stories the batch changed
    tombstones: list[Outgoing] = field(default_factory=list)
    open: int = 0  # stories open after the batch


@dataclass
class Read:
    """A batch as read: the values that decode, with their indexes and signatures (a row each), and why the others
    do not."""

    indexes: list[int]
    values: list[bytes]
    signatures: np.ndarray
    letters: list[tuple[int, str]]


@dataclass
class Assigned:
    """What the keeper made of the values read: each one's story and signature slot (-1: none written), and the
    records of the stories the batch changed or closed."""

    stories: list[str] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    records: list[Outgoing] = field(default_factory=list)
    tombstones: list[Outgoing] = field(default_factory=list)
    open: int = 0


def read(values: Sequence[bytes | None], num_perm: int) -> Read:
    """Decode a batch of `news.classified` values and sign the text of each."""
    r = Read([], [], np.empty((0, num_perm), dtype=np.uint32), [])
    sigs = []
    for i, value in enumerate(values):
        try:
            view = decode_view(StoryView, value)
        except DecodeError as exc:
            r.letters.append((i, str(exc)))
            continue
        r.indexes.append(i)
        r.values.append(value)  # type: ignore[arg-type]  # a value that decoded is bytes
        sigs.append(signature(text_of(view.item.title, view.item.summary), num_perm))
    if sigs:
        r.signatures = np.stack(sigs)
    return r


def finish(topics: TopicSettings, r: Read, a: Assigned) -> Batch:
    """The batch's records: each item with its story, the signatures written for the first members, the stories'."""
    b = Batch(sources=r.indexes, letters=r.letters, records=a.records, tombstones=a.tombstones, open=a.open)
    for value, sig, sid, slot in zip(r.values, r.signatures, a.stories, a.slots, strict=True):
        if slot >= 0:
            record = StorySignature(story_id=sid, slot=slot, signature=encode_signature(sig))
            b.signatures.append(Outgoing(topics.story_signatures, encode_key(record), encode(record)))
        b.out.append(Outgoing(topics.storied, sid.encode(), with_story(value, sid)))
    return b


def handle(keeper: StoryKeeper, values: Sequence[bytes | None]) -> Batch:
    """All three steps in this process."""
    r = read(values, keeper.clusterer.params.num_perm)
    return finish(keeper.topics, r, keeper.assign(r.values, r.signatures))


class StoryKeeper:
    """The clusterer and the records of the stories it keeps open."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        self.topics, self._settings = topics, settings
        self.stories: dict[str, StoryRecord] = {}  # the record of every open story
        self.clusterer = Clusterer(params_from(settings))
        self._tombstones: list[Outgoing] = []

    def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> int:
        """Reopen every story read from the stories topic that is still inside the window; return how many are open.
        The tombstones of the others are taken with `take_tombstones`."""
        for sid, story in sorted(stories.items(), key=lambda kv: kv[1].last_seen):
            # A story that cannot be reopened (its signatures unreadable, logged) is not kept: no item can join it.
            if restore(self.clusterer, story, signatures.get(sid)):
                self.stories[sid] = StoryRecord(story)
        self._close()
        return len(self.clusterer)

    def assign(self, values: list[bytes], signatures: np.ndarray) -> Assigned:
        """Assign each value read (by `read`) to a story, and grow and encode the records of the stories it changed."""
        a = Assigned()
        joined: dict[str, list[Joined]] = {}
        for value, sig in zip(values, signatures, strict=True):
            view = decode_view(StoryView, value)
            f = from_classified(view)
            got = self.clusterer.assign(f, sig)
            if got.reason != "known":
                joined.setdefault(got.story_id, []).append(Joined(f, view.places, view.labels))
            a.stories.append(got.story_id)
            a.slots.append(-1 if got.slot is None or got.reason == "known" else got.slot)
        self._keep(a, joined)
        a.tombstones, a.open = self.take_tombstones(), len(self.clusterer)
        return a

    def _keep(self, a: Assigned, joined: dict[str, list[Joined]]) -> None:
        """Grow each changed story's record once and keep it, then let go of the stories closed meanwhile: memory is
        bounded by the window. Their tombstones go out after the batch's records, which may be a closed story's last."""
        topic, most = self.topics.stories, self._settings.max_listed_members
        for sid, members in joined.items():
            record = merged(self.stories.get(sid), sid, members, most)
            self.stories[sid] = record
            a.records.append(Outgoing(topic, sid.encode(), record.encode()))
        self._close()

    def take_tombstones(self) -> list[Outgoing]:
        """The tombstones of the stories closed since the last call, and of their signatures."""
        out, self._tombstones = self._tombstones, []
        return out

    def _close(self) -> None:
        """Let go of the stories the window closed; their records are tombstoned, or compaction keeps them forever."""
        t, indexed = self.topics, self.clusterer.params.indexed_members
        for sid in self.clusterer.take_closed():
            story = self.stories.pop(sid, None)
            # Signatures were written for the first members only, one slot each (none known: all slots).
            signed = min(story.member_count, indexed) if story is not None else indexed
            self._tombstones.append(Outgoing(t.stories, sid.encode(), None))
            self._tombstones += [Outgoing(t.story_signatures, StorySignature.key_of(sid, n).encode(), None)
                                 for n in range(signed)]  # fmt: skip
