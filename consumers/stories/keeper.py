"""The story stage's work on a batch, apart from the broker: `news.classified` values in, every record the batch
produces out (the items with their stories, new signatures, changed and closed stories' records), encoded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from consumers.stories.cluster import Clusterer
from consumers.stories.facts import from_classified
from consumers.stories.params import params_from
from consumers.stories.records import Joined, merged, restore, signature_record
from monitor.messages import DecodeError, Story, StorySignature, StoryView, decode_view, encode, encode_key, with_story
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
    assigned: int = 0  # items that joined or opened a story (not read before)
    open: int = 0  # stories open after the batch


class StoryKeeper:
    """The clusterer and the records of the stories it keeps open."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        self._topics, self._settings = topics, settings
        self.stories: dict[str, Story] = {}  # the record of every open story
        self.clusterer = Clusterer(params_from(settings))
        self._tombstones: list[Outgoing] = []

    def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> int:
        """Reopen every story read from the stories topic that is still inside the window; return how many are open.
        The tombstones of the others are taken with `take_tombstones`."""
        self.stories.update(stories)
        for sid, story in sorted(stories.items(), key=lambda kv: kv[1].last_seen):
            restore(self.clusterer, story, signatures.get(sid))
        self._close()
        return len(self.clusterer)

    def handle(self, values: Sequence[bytes | None]) -> Batch:
        """Assign a batch of `news.classified` values to stories and make every record it produces: the items with
        their stories, new signatures, the records of the stories it changed, the tombstones of those it closed."""
        b = Batch()
        joined: dict[str, list[Joined]] = {}
        for i, value in enumerate(values):
            try:
                view = decode_view(StoryView, value)
            except DecodeError as exc:
                b.letters.append((i, str(exc)))
                continue
            self._one(b, joined, i, value, view)  # type: ignore[arg-type]  # a value that decoded is bytes
        self._keep(b, joined)
        b.tombstones, b.open = self.take_tombstones(), len(self.clusterer)
        return b

    def _one(self, b: Batch, joined: dict[str, list[Joined]], i: int, value: bytes, view: StoryView) -> None:
        f = from_classified(view)
        a = self.clusterer.assign(f)
        if a.reason != "known":
            joined.setdefault(a.story_id, []).append(Joined(f, view.places, view.labels))
            sig = signature_record(a)
            if sig is not None:
                b.signatures.append(Outgoing(self._topics.story_signatures, encode_key(sig), encode(sig)))
        b.out.append(Outgoing(self._topics.storied, a.story_id.encode(), with_story(value, a.story_id)))
        b.sources.append(i)

    def _keep(self, b: Batch, joined: dict[str, list[Joined]]) -> None:
        """Grow each changed story's record once and keep it, then let go of the stories closed meanwhile: memory is
        bounded by the window. Their tombstones go out after the batch's records, which may be a closed story's last."""
        topic, most = self._topics.stories, self._settings.max_listed_members
        for sid, members in joined.items():
            story = merged(self.stories.get(sid), sid, members, most)
            self.stories[sid] = story
            b.records.append(Outgoing(topic, encode_key(story), encode(story)))
            b.assigned += len(members)
        self._close()

    def take_tombstones(self) -> list[Outgoing]:
        """The tombstones of the stories closed since the last call, and of their signatures."""
        out, self._tombstones = self._tombstones, []
        return out

    def _close(self) -> None:
        """Let go of the stories the window closed; their records are tombstoned, or compaction keeps them forever."""
        t, indexed = self._topics, self.clusterer.params.indexed_members
        for sid in self.clusterer.take_closed():
            story = self.stories.pop(sid, None)
            # Signatures were written for the first members only, one slot each (none known: all slots).
            signed = min(story.member_count, indexed) if story is not None else indexed
            self._tombstones.append(Outgoing(t.stories, sid.encode(), None))
            self._tombstones += [Outgoing(t.story_signatures, StorySignature.key_of(sid, n).encode(), None)
                                 for n in range(signed)]  # fmt: skip
