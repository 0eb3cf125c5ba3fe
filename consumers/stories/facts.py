"""What clustering knows of one item: plain typed data built from a classified message or a labeled line."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from consumers.stories.domains import registered_domain
from monitor.messages import ClassifiedItem, Place, PlaceView, StoryView, as_utc

# The lead is the part of a summary that carries the event; the rest adds words that other stories share.
LEAD_CHARS = 400


@dataclass(frozen=True, slots=True)
class Facts:
    """One item as clustering sees it."""

    item_id: str
    headline: str
    text: str
    lang: str
    published: datetime
    outlet: str
    domain: str
    countries: frozenset[str]
    spots: frozenset[str]  # places below country level, as "CODE:name" in lower case
    labels: frozenset[str]


def spot_key(place: Place | PlaceView) -> str:
    name = unicodedata.normalize("NFKC", place.name).casefold()
    return f"{place.code}:{name}"


def place_sets(places: Iterable[Place | PlaceView]) -> tuple[frozenset[str], frozenset[str]]:
    """The country codes and the below-country places of a list of places."""
    ps = list(places)
    return frozenset(p.code for p in ps), frozenset(spot_key(p) for p in ps if p.kind != "country")


def lead(summary: str) -> str:
    return summary[:LEAD_CHARS]


def text_of(title: str, summary: str) -> str:
    """The text an item is compared by: its headline and lead."""
    return f"{title}\n{lead(summary)}"


def from_classified(msg: ClassifiedItem | StoryView) -> Facts:
    """The facts of a classified item (or of the story stage's view of one): its text, time, outlet, and the places
    and labels the classifier found."""
    item = msg.item
    countries, spots = place_sets(msg.places)
    return Facts(
        item_id=item.id,
        headline=item.title,
        text=text_of(item.title, item.summary),
        lang=item.lang,
        # A view reads a time without an offset as it is written; messages read it as UTC.
        published=as_utc(item.published),
        outlet=item.source,
        domain=registered_domain(item.url or item.feed_url),
        countries=countries,
        spots=spots,
        labels=frozenset(msg.labels),
    )
