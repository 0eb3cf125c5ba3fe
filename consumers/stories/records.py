"""A story's record on the stories topic: made from its first item, grown by each member, read back at restart."""

from __future__ import annotations

import binascii

import numpy as np
import structlog

from consumers.stories.cluster import Assignment, Clusterer
from consumers.stories.facts import Facts, place_sets
from consumers.stories.text import decode_signature, encode_signature
from monitor.messages import LABELS, ClassifiedItem, Place, Story, StoryMember, utcnow

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
        places=_places([], msg.places), labels=list(msg.labels), signatures=_signatures([], a),
    )  # fmt: skip


def grown(story: Story, a: Assignment, f: Facts, msg: ClassifiedItem, max_listed: int, indexed: int) -> Story:
    """The record with one more member; the earliest member's headline represents the story."""
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
        "signatures": _signatures(story.signatures, a)[:indexed], "updated_at": utcnow(),
    })  # fmt: skip


def _places(known: list[Place], new: list[Place]) -> list[Place]:
    out = list(known)
    for p in new:
        if p not in out and len(out) < MAX_PLACES:
            out.append(p)
    return out


def _signatures(known: list[str], a: Assignment) -> list[str]:
    return [*known, encode_signature(a.signature)] if a.signature is not None else known


def restore(clusterer: Clusterer, story: Story) -> bool:
    """Reopen a story in the clusterer from its record; False (logged) for a record whose signatures are unreadable."""
    try:
        sigs = [decode_signature(s) for s in story.signatures]
    except (ValueError, binascii.Error) as exc:
        log.warning("stories.unreadable_signatures", story_id=story.story_id, error=str(exc))
        return False
    countries, spots = place_sets(story.places)
    clusterer.restore(story.story_id, story.first_seen, story.last_seen, [m.item_id for m in story.members],
                      [np.asarray(s) for s in sigs], set(countries), set(spots), frozenset(story.labels))  # fmt: skip
    return True
