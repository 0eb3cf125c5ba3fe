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
from monitor.messages import LABELS, Place, PlaceView, Story, StoryMember, StorySignature, utcnow

log = structlog.get_logger(__name__)
# Places a record lists: enough for any event, few enough that a noisy member cannot bloat it.
MAX_PLACES = 100


class Joined(NamedTuple):
    """An item that joined a story in this batch: its facts, and the places and labels its record adds."""

    facts: Facts
    places: Sequence[Place | PlaceView]
    labels: Sequence[str]


def member(f: Facts) -> StoryMember:
    return StoryMember(item_id=f.item_id, outlet=f.outlet, domain=f.domain, lang=f.lang, published=f.published)


def merged(story: Story | None, story_id: str, joined: Sequence[Joined], max_listed: int) -> Story:
    """The story's record with the members that joined it in a batch, made once per batch (a new record when None);
    the earliest member's headline represents the story.

    Signatures written by earlier versions are dropped: they are on the signatures topic, written once each.
    """
    if story is None:
        story, joined = _opened(story_id, joined[0]), joined[1:]
    if not joined:
        return story
    first_seen, headline, lang = story.first_seen, story.headline, story.headline_lang
    members, labels = list(story.members), set[str](story.labels)
    domains, places = _Domains(story.domains), _Places(story.places)
    for f, ps, lbs in joined:
        if f.published < first_seen:
            first_seen, headline, lang = f.published, f.headline, f.lang
        if len(members) < max_listed:
            members.append(member(f))
        domains.add(f.domain)
        places.extend(ps)
        labels.update(lbs)
    return story.model_copy(update={
        "first_seen": first_seen, "last_seen": max(story.last_seen, *(j.facts.published for j in joined)),
        "headline": headline, "headline_lang": lang, "members": members,
        "member_count": story.member_count + len(joined), "domains": domains.items,
        "places": places.items, "labels": [lb for lb in LABELS if lb in labels],
        "signatures": [], "updated_at": utcnow(),
    })  # fmt: skip


def _opened(story_id: str, j: Joined) -> Story:
    f = j.facts
    places = _Places([])
    places.extend(j.places)
    return Story(
        story_id=story_id, first_seen=f.published, last_seen=f.published, headline=f.headline, headline_lang=f.lang,
        members=[member(f)], member_count=1, domains=[f.domain] if f.domain else [], places=places.items,
        labels=[lb for lb in LABELS if lb in j.labels],
    )  # fmt: skip


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
    """A story's places in order of first mention, each once, at most MAX_PLACES of them."""

    def __init__(self, known: list[Place]) -> None:
        self.items = list(known)
        self._seen = {(p.code, p.name, p.kind) for p in known}

    def extend(self, places: Iterable[Place | PlaceView]) -> None:
        for p in places:
            key = (p.code, p.name, p.kind)
            if key not in self._seen and len(self.items) < MAX_PLACES:
                self.items.append(p if isinstance(p, Place) else Place(code=p.code, name=p.name, kind=p.kind))
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
