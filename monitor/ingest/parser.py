"""Turn a fetched body into feed entries: RSS/Atom/RDF through feedparser, JSON Feed, ninjs and NewsML-G2 through
`wire`; decide when a body is not a feed at all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import feedparser

from monitor.ingest import wire
from monitor.ingest.errors import ErrorKind, FeedError

# An internal DTD subset sits in the prolog.
_PROLOG_BYTES = 64 * 1024
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(?:%\s+)?\S+\s+(?:\"([^\"]*)\"|'([^']*)')")
_MAX_ENTITIES = 64


def expands_entities(body: bytes) -> bool:
    """True when the DOCTYPE declares entities built from other entities (or very many): billion-laughs material.

    A plain literal entity ("&id;" for a fixed string) and an external declaration the parser never fetches are
    harmless and stay readable.
    """
    start = body.find(b"<!DOCTYPE", 0, _PROLOG_BYTES)
    if start < 0:
        return False
    end = body.find(b"]>", start)
    subset = body[start : end if end >= 0 else len(body)]
    values = [a or b for a, b in _ENTITY_DECL.findall(subset)]
    return len(values) > _MAX_ENTITIES or any(b"&" in v or b"%" in v for v in values)


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    lang: str
    entries: list[dict[str, Any]]
    warning: str = ""  # feedparser's "bozo" complaint about a feed it could still read
    format: str = ""  # e.g. rss20, atom10, rss10, jsonfeed11, ninjs2, newsml-g2


def parse_feed(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    """Parse any supported format; raise FeedError(NOT_A_FEED or PARSE) when nothing usable is there.

    Every entry is stamped with `feed_format` and `feed_title`, so the normalizer can carry them on each item.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    kind = wire.sniff(body, lowered.get("content-type", ""))
    if kind == "feed" and expands_entities(body):
        raise FeedError(ErrorKind.PARSE, "the document declares nested XML entities (refused: entity expansion)")
    try:
        if kind == "feed":
            parsed = _parse_with_feedparser(body, lowered, url)
        else:
            doc = wire.parse_json(body, url) if kind == "json" else wire.parse_newsml(body)
            lang = doc.lang or lowered.get("content-language", "")
            parsed = ParsedFeed(title=doc.title, lang=lang, entries=doc.entries, format=doc.format)
    except RecursionError as exc:  # nesting deep enough to exhaust the stack is hostile input, not a feed
        raise FeedError(ErrorKind.PARSE, "document nested too deeply") from exc
    for entry in parsed.entries:
        entry["feed_format"] = parsed.format
        entry["feed_title"] = parsed.title
    return parsed


def _parse_with_feedparser(body: bytes, lowered: dict[str, str], url: str) -> ParsedFeed:
    # Only headers that change how bytes are decoded or resolved; never let feedparser fetch anything.
    hdrs = {k: v for k, v in lowered.items() if k in ("content-type", "content-location", "content-language")}
    hdrs.setdefault("content-location", url)
    # Entry links are resolved against the feed's URL either way; resolving URIs inside summary HTML costs a third
    # of feedparser's time, and that HTML is flattened to text anyway.
    result = feedparser.parse(body, response_headers=hdrs, sanitize_html=False, resolve_relative_uris=False)
    entries = list(result.get("entries", []))
    feed = result.get("feed", {})
    bozo = result.get("bozo", False)
    warning = f"{type(result.get('bozo_exception')).__name__}: {result.get('bozo_exception')}" if bozo else ""
    if not entries and bozo:
        if not result.get("version"):
            head = body[:512].lstrip().lower()
            if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
                raise FeedError(ErrorKind.NOT_A_FEED, "an HTML page, not a feed")
            raise FeedError(ErrorKind.NOT_A_FEED, f"not a recognizable feed ({warning[:200]})")
        raise FeedError(ErrorKind.PARSE, f"feed could not be parsed ({warning[:200]})")
    if not entries and not result.get("version"):
        raise FeedError(ErrorKind.NOT_A_FEED, "no feed elements found")
    return ParsedFeed(
        title=str(feed.get("title", "")),
        lang=str(feed.get("language", "") or lowered.get("content-language", "")),
        entries=entries,
        warning=warning,
        format=str(result.get("version", "")),
    )
