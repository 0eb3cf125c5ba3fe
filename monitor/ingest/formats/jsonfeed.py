"""JSON Feed 1.0 and 1.1 (jsonfeed.org) read into typed entries."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats.entry import ParsedEntry, ParsedFeed
from monitor.ingest.formats.fields import text, wire_entry


def detect(doc: object) -> bool:
    """Whether a decoded JSON document is a JSON Feed: it says so, or it says nothing and lists items."""
    if not isinstance(doc, dict):
        return False
    version = text(doc.get("version"))
    return "jsonfeed.org/version/" in version or (not version and isinstance(doc.get("items"), list))


def parse(doc: dict[str, Any], base_url: str) -> ParsedFeed:
    """The feed and its items; relative item URLs resolve against its home page, else against `base_url`."""
    version = text(doc.get("version"))
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError(ErrorKind.PARSE, "JSON Feed without an items list")
    base = text(doc.get("home_page_url")) or base_url
    entries = tuple(_entry(i, base) for i in items if isinstance(i, dict))
    fmt = "jsonfeed11" if version.rstrip("/").endswith("/1.1") else "jsonfeed10"
    return ParsedFeed(text(doc.get("title")), text(doc.get("language")), entries, format=fmt)


def _author(item: dict[str, Any]) -> str:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return text(authors[0].get("name"))
    author = item.get("author")
    return text(author.get("name")) if isinstance(author, dict) else ""


def _entry(item: dict[str, Any], base: str) -> ParsedEntry:
    link = text(item.get("url")) or text(item.get("external_url"))
    html, plain = text(item.get("content_html")), text(item.get("content_text"))
    tags = item.get("tags")
    return wire_entry(
        guid=text(item.get("id")),
        title=text(item.get("title")),
        summary=text(item.get("summary")),
        body=html or plain,
        body_html=bool(html),
        link=urljoin(base, link) if link and base else link,
        published=item.get("date_published"),
        updated=item.get("date_modified"),
        author=_author(item),
        language=text(item.get("language")),
        tags=[text(t) for t in tags] if isinstance(tags, list) else [],
    )
