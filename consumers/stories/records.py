"""A story's record on the stories topic: made from its first item, grown by each member, read back at restart; and
the signature records of its first members, written once each."""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import structlog

from consumers.stories.cluster import Assignment, Clusterer
from consumers.stories.facts import Facts, place_sets
from consumers.stories.text import decode_signature, encode_signature
from monitor.messages import (
    LABELS,
    Place,
    PlaceView,
    Story,
    StorySignature,
    encode_member,
    encode_story,
    utcnow,
)

log = structlog.get_logger(__name__)
# Places a record lists: enough for any event, few enough that a noisy member cannot bloat it.
MAX_PLACES = 100


class Joined(NamedTuple):
    """An item that joined a story in this batch: its facts, and the places and labels its record adds."""

    facts: Facts
    places: Sequence[Place | PlaceView]
    labels: Sequence[str]


class StoryRecord:
    """An open story's record as the keeper keeps it and grows it in place: its fields, and its listed members
    encoded once each: as objects, members took most of the keeper's memory, and encoding them all again at every
    batch most of its time spent on records."""

    def __init__(self, story: Story) -> None:
        self.story_id, self.member_count = story.story_id, story.member_count
        self.first_seen, self.last_seen = story.first_seen, story.last_seen
        self.headline, self.headline_lang = story.headline, story.headline_lang
        self.labels = set[str](story.labels)
        self.domains, self.places = _Domains(story.domains), _Places(story.places)
        self.listed = len(story.members)
        self.members = bytearray(b",".join(encode_member(m.item_id, m.outlet, m.domain, m.lang, m.published)
                                           for m in story.members))  # fmt: skip

    @classmethod
    def opened(cls, story_id: str, j: Joined) -> StoryRecord:
        """The record of a story that this item opens."""
        f = j.facts
        record = cls(Story(story_id=story_id, first_seen=f.published, last_seen=f.published, headline=f.headline,
                           headline_lang=f.lang))  # fmt: skip
        record.grow([j], max_listed=1)
        return record

    def grow(self, joined: Sequence[Joined], max_listed: int) -> None:
        """Add the members that joined the story in a batch; the earliest member's headline represents the story."""
        for f, ps, lbs in joined:
            if f.published < self.first_seen:
                self.first_seen, self.headline, self.headline_lang = f.published, f.headline, f.lang
            self.last_seen = max(self.last_seen, f.published)
            if self.listed < max_listed:
                member = encode_member(f.item_id, f.outlet, f.domain, f.lang, f.published)
                self.members += b"," + member if self.listed else member
                self.listed += 1
            self.member_count += 1
            self.domains.add(f.domain)
            self.places.extend(ps)
            self.labels.update(lbs)

    def encode(self) -> bytes:
        """The story's value on the stories topic. Signatures are on the signatures topic, written once each."""
        fields = {
            "story_id": self.story_id, "first_seen": self.first_seen, "last_seen": self.last_seen,
            "headline": self.headline, "headline_lang": self.headline_lang, "member_count": self.member_count,
            "domains": self.domains.items, "places": self.places.items,
            "labels": [lb for lb in LABELS if lb in self.labels], "signatures": [], "updated_at": utcnow(),
        }  # fmt: skip
        return encode_story(fields, bytes(self.members))


def merged(record: StoryRecord | None, story_id: str, joined: Sequence[Joined], max_listed: int) -> StoryRecord:
    """The story's record grown by the members that joined it in a batch (a new record when None)."""
    if record is None:
        record, joined = StoryRecord.opened(story_id, joined[0]), joined[1:]
    record.grow(joined, max_listed)
    return record


class _Domains:
    """A story's outlets in order of first report, each once: a set beside the list, as comparing each new outlet
    with every known one grew with the story."""

    def __init__(self, known: list[str]) -> None:
        self.items, self._seen = list(known), set(known)

    def add(self, domain: str) -> None:
        if domain and domain not in self._seen:
            self.items.append(domain)
            self._seen.add(domain)


class _Places:
    """A story's places in order of first mention, each once, at most MAX_PLACES of them, as they are written."""

    def __init__(self, known: list[Place]) -> None:
        self.items: list[dict[str, str]] = []
        self._seen: set[tuple[str, str, str]] = set()
        self.extend(known)

    def extend(self, places: Iterable[Place | PlaceView]) -> None:
        for p in places:
            key = (p.code, p.name, p.kind)
            if key not in self._seen and len(self.items) < MAX_PLACES:
                self.items.append({"code": p.code, "name": p.name, "kind": p.kind})
                self._seen.add(key)


def signature_record(a: Assignment) -> StorySignature | None:
    """The record of the item's signature when the clusterer indexed it for its story, else None."""
    if a.signature is None or a.slot is None:
        return None
    return StorySignature(story_id=a.story_id, slot=a.slot, signature=encode_signature(a.signature))


def by_story(records: list[StorySignature]) -> dict[str, list[str]]:
    """Each story's signatures in slot order, from the signature records read at start-up."""
    out: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: (r.story_id, r.slot)):
        out.setdefault(r.story_id, []).append(r.signature)
    return out


def restore(clusterer: Clusterer, story: Story, signatures: list[str] | None = None) -> bool:
    """Reopen a story in the clusterer from its record and its members' signatures (those of the record itself,
    written by earlier versions, when none are given); False (logged) for signatures that are unreadable."""
    try:
        sigs = [decode_signature(s) for s in (signatures or story.signatures)]
    except (ValueError, binascii.Error) as exc:
        log.warning("stories.unreadable_signatures", story_id=story.story_id, error=str(exc))
        return False
    countries, spots = place_sets(story.places)
    clusterer.restore(story.story_id, story.first_seen, story.last_seen, [m.item_id for m in story.members],
                      [np.asarray(s) for s in sigs], set(countries), set(spots), frozenset(story.labels))  # fmt: skip
    return True
