"""RSS, Atom and RDF through feedparser, read into typed entries; feedparser's quirks stay in this file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import feedparser

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats.dtd import tamed_prolog
from monitor.ingest.formats.entry import MAX_LISTED, ParsedEntry, ParsedFeed, bounded, from_timetuple


def parse(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    """A syndication feed from its body and (lower-cased) response headers; FeedError when nothing usable is there."""
    result = _feedparser(body, headers, url)
    entries = result.get("entries", [])
    bozo = result.get("bozo", False)
    warning = f"{type(result.get('bozo_exception')).__name__}: {result.get('bozo_exception')}" if bozo else ""
    if not entries:
        _refuse_empty(body, result, warning)
    feed = result.get("feed", {})
    return ParsedFeed(
        title=str(feed.get("title", "")),
        lang=str(feed.get("language") or ""),
        entries=tuple(entry_of(e) for e in entries),
        warning=warning,
        format=str(result.get("version", "")),
    )


def _feedparser(body: bytes, headers: dict[str, str], url: str) -> Any:
    # Only headers that change how bytes are decoded or resolved; never let feedparser fetch anything.
    hdrs = {k: v for k, v in headers.items() if k in ("content-type", "content-location", "content-language")}
    hdrs.setdefault("content-location", url)
    # Entry links are resolved against the feed's URL either way; resolving URIs inside summary HTML costs a third
    # of feedparser's time, and that HTML is flattened to text anyway.
    return feedparser.parse(tamed_prolog(body), response_headers=hdrs, sanitize_html=False, resolve_relative_uris=False)


def _refuse_empty(body: bytes, result: Any, warning: str) -> None:
    """Raise the FeedError a document without entries deserves, unless it is a well-formed feed that is empty."""
    known = bool(result.get("version"))
    if not result.get("bozo", False):
        if not known:
            raise FeedError(ErrorKind.NOT_A_FEED, "no feed elements found")
        return
    if known:
        raise FeedError(ErrorKind.PARSE, f"feed could not be parsed ({warning[:200]})")
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        raise FeedError(ErrorKind.NOT_A_FEED, "an HTML page, not a feed")
    raise FeedError(ErrorKind.NOT_A_FEED, f"not a recognizable feed ({warning[:200]})")


def entry_of(entry: Any) -> ParsedEntry:
    """One feedparser entry as a typed entry; `get` is feedparser's, which maps aliases such as description."""
    title, title_html = _text(entry, "title")
    summary, summary_html = _text(entry, "summary", "description", "content")
    return ParsedEntry(
        guid=bounded(str(entry.get("id") or "")),
        link=bounded(str(entry.get("link") or "")),
        title=title,
        title_html=title_html,
        summary=summary,
        summary_html=summary_html,
        published=_date(entry),
        # dict.get: feedparser's own get() would answer `updated_parsed` with the published date.
        updated=from_timetuple(dict.get(entry, "updated_parsed")),
        author=bounded(str(entry.get("author") or "")),
        language=bounded(str(entry.get("language") or "")),
        tags=_tags(entry.get("tags")),
    )


def _text(entry: Any, *keys: str) -> tuple[str, bool]:
    """The first non-blank of `keys` and whether it is HTML (feedparser says text/plain for plain text)."""
    for k in keys:
        v = entry.get(k)
        detail: object = entry.get(f"{k}_detail")
        if isinstance(v, list) and v and isinstance(v[0], dict):
            detail, v = v[0], v[0].get("value")
        v = bounded(v)
        if v.strip():
            mime = detail.get("type") if isinstance(detail, dict) else None
            return v, mime != "text/plain"
    return "", False


def _date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        when = from_timetuple(entry.get(key))
        if when is not None:
            return when
    return None


def _tags(tags: object) -> tuple[str, ...]:
    if not isinstance(tags, list):
        return ()
    return tuple(str(t.get("term") or t.get("label") or "") for t in tags[:MAX_LISTED] if isinstance(t, dict))
