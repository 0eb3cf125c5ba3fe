"""A story's record on the stories topic: made from its first item, grown by each member, read back at restart; and
the signature records of its first members, written once each."""

from __future__ import annotations

import binascii

import numpy as np
import structlog

from consumers.stories.cluster import Assignment, Clusterer
from consumers.stories.facts import Facts, place_sets
from consumers.stories.text import decode_signature, encode_signature
from monitor.messages import LABELS, ClassifiedItem, Place, Story, StoryMember, StorySignature, utcnow

log = structlog.get_logger(__name__)
# Places a record lists: enough for any event, few enough that a noisy member cannot bloat it.
MAX_PLACES = 100


def member(f: Facts) -> StoryMember:
    return StoryMember(item_id=f.item_id, outlet=f.outlet, domain=f.domain, lang=f.lang, published=f.published)


def opened(a: Assignment, f: Facts, msg: ClassifiedItem) -> Story:
    """The record of a story that this item opens."""
    return Story(
        story_id=a.story_id, first_seen=f.published, last_seen=f.published, headline=f.headline,
        headline_lang=f.lang, members=[member(f)], member_count=1, domains=[f.domain] if f.domain else [],
        places=_places([], msg.places), labels=list(msg.labels),
    )  # fmt: skip


def grown(story: Story, f: Facts, msg: ClassifiedItem, max_listed: int) -> Story:
    """The record with one more member; the earliest member's headline represents the story.

    Signatures written by earlier versions are dropped: they are on the signatures topic, written once each.
    """
    earliest = f.published < story.first_seen
    listed = [*story.members, member(f)] if len(story.members) < max_listed else story.members
    labels = set(story.labels) | set(msg.labels)
    return story.model_copy(update={
        "first_seen": min(story.first_seen, f.published), "last_seen": max(story.last_seen, f.published),
        "headline": f.headline if earliest else story.headline,
        "headline_lang": f.lang if earliest else story.headline_lang,
        "members": listed, "member_count": story.member_count + 1,
        "domains": [*story.domains, f.domain] if f.domain and f.domain not in story.domains else story.domains,
        "places": _places(story.places, msg.places), "labels": [lb for lb in LABELS if lb in labels],
        "signatures": [], "updated_at": utcnow(),
    })  # fmt: skip


def _places(known: list[Place], new: list[Place]) -> list[Place]:
    out, seen = list(known), set(known)  # a set: comparing each new place with every known one grew with the story
    for p in new:
        if p not in seen and len(out) < MAX_PLACES:
            out.append(p)
            seen.add(p)
    return out


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
