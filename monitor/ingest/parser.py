"""Turn a fetched body into a parsed feed: detect its format, hand it to that format's adapter in `formats/`, and
decide when a body is not a feed at all."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Literal

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats import fast, jsonfeed, newsml, ninjs
from monitor.ingest.formats.entry import ParsedFeed
from monitor.ingest.formats.prolog import xml_prolog

Kind = Literal["json", "newsml", "feed"]
# Which parser reads RSS, Atom and RDF: feedparser-rs where it is sure to read what feedparser reads (auto), wherever
# it can read the document at all (fast), or feedparser always.
ParserChoice = Literal["auto", "fast", "feedparser"]


def sniff(body: bytes, content_type: str) -> Kind:
    """Which parser a body needs, from its first bytes and (for JSON without a clear start) its content type."""
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "json"
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime.endswith(("/json", "+json")) and not head.startswith(b"<"):
        return "json"
    if _root_name(body[:65536]) in ("newsItem", "newsMessage"):
        return "newsml"
    return "feed"


def _root_name(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
    return xml_prolog(head.lstrip()).root


def parse_feed(body: bytes, headers: dict[str, str], url: str, parser: ParserChoice = "auto") -> ParsedFeed:
    """Parse any supported format; raise FeedError(NOT_A_FEED or PARSE) when nothing usable is there."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        parsed = _dispatch(body, lowered, url, parser)
    except RecursionError as exc:  # nesting deep enough to exhaust the stack is hostile input, not a feed
        raise FeedError(ErrorKind.PARSE, "document nested too deeply") from exc
    return _with_language(parsed, lowered)


def parse_fast(body: bytes, headers: dict[str, str], url: str, parser: ParserChoice = "auto") -> ParsedFeed | None:
    """What parse_feed gives when the fast parser reads the document; None when parse_feed needs another parser."""
    lowered = {k.lower(): v for k, v in headers.items()}
    quick = _fast(body, lowered, url, parser, sniff(body, lowered.get("content-type", "")))
    return None if quick is None else _with_language(quick, lowered)


def _with_language(parsed: ParsedFeed, lowered: dict[str, str]) -> ParsedFeed:
    # The response's Content-Language speaks for documents that name no language of their own.
    return parsed if parsed.lang else replace(parsed, lang=lowered.get("content-language", ""))


def _fast(body: bytes, lowered: dict[str, str], url: str, parser: ParserChoice, kind: Kind) -> ParsedFeed | None:
    if parser == "feedparser" or kind != "feed":
        return None
    return fast.parse(body, lowered, url, sure_only=parser == "auto")


def _dispatch(body: bytes, lowered: dict[str, str], url: str, parser: ParserChoice) -> ParsedFeed:
    kind = sniff(body, lowered.get("content-type", ""))
    if kind == "json":
        return _parse_json(body, url)
    if kind == "newsml":
        return newsml.parse(body)
    quick = _fast(body, lowered, url, parser, kind)
    if quick is not None:
        return quick
    # Imported on the first document the fast path leaves to it: feedparser and what it imports cost each parse
    # worker megabytes that a worker whose feeds all take the fast path never needs.
    from monitor.ingest.formats import syndication

    return syndication.parse(body, lowered, url)


def _parse_json(body: bytes, url: str) -> ParsedFeed:
    """A JSON Feed or an IPTC ninjs document."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise FeedError(ErrorKind.PARSE, f"invalid JSON: {str(exc)[:200]}") from exc
    if jsonfeed.detect(doc):
        return jsonfeed.parse(doc, url)
    if ninjs.detect(doc):
        return ninjs.parse(doc)
    raise FeedError(ErrorKind.NOT_A_FEED, "JSON, but neither a JSON Feed nor IPTC ninjs")
