"""The typed result of parsing any feed format: one frozen entry per story and the facts of the feed around it."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Per text field of an entry, kept right after parsing: far above the normalizer's limits (title 500, summary 2,000
# characters of text), so markup-heavy HTML still yields them in full, and far below what entities could expand to.
MAX_FIELD_CHARS = 100_000
# Per list field (tags, places, subjects): four times what an item keeps, as repeats collapse after cleaning.
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One story as a format adapter read it; text is raw (HTML when its `*_html` flag says so), bounded in size.

    `published` is the story's own date (its published, else updated, else created date), `updated` its last
    modification as the document states it; both are UTC.
    """

    guid: str = ""
    link: str = ""
    title: str = ""
    title_html: bool = False
    summary: str = ""  # the summary, else the first content block
    summary_html: bool = False
    published: datetime | None = None
    updated: datetime | None = None
    author: str = ""
    language: str = ""
    tags: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed document: its entries and the facts every entry shares."""

    title: str
    lang: str
    entries: tuple[ParsedEntry, ...] = field(default_factory=tuple)
    warning: str = ""  # the parser's complaint about a document it could still read
    format: str = ""  # e.g. rss20, atom10, rss10, jsonfeed11, ninjs2, newsml-g2


def bounded(value: object) -> str:
    """A text field cut to MAX_FIELD_CHARS; anything that is not a string is empty."""
    return value[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def from_timetuple(value: Any) -> datetime | None:
    """A UTC time tuple (struct_time or a 9-tuple) as an aware datetime; None when absent or out of range."""
    if not value:
        return None
    try:  # a valid time read field by field, far quicker than through seconds; anything else rolls over as before
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (ValueError, TypeError):
        pass
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None
