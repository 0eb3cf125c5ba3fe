"""RSS 2.0, Atom 1.0 and RSS 1.0 through the Rust-backed feedparser-rs, read into typed entries, but only for
documents where it is sure to read what feedparser reads; every other document is left to `syndication`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urljoin
from xml.parsers import expat

import feedparser_rs

from monitor.ingest.formats.entry import MAX_LISTED, ParsedEntry, ParsedFeed, bounded, from_timetuple

_FORMATS = frozenset({"rss20", "atom10", "rss10"})
_ATOM = "http://www.w3.org/2005/Atom"
_RSS1 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_MEDIA = "http://search.yahoo.com/mrss/"
# The elements both parsers read alike, by namespace ("" for none); any other may mean something only feedparser
# knows (an xhtml:body or fullitem as content, a media:title as the title), so its document goes to feedparser.
_ELEMENTS: dict[str, frozenset[str]] = {
    "": frozenset({"rss", "channel", "title", "link", "description", "language", "copyright", "managingEditor",
                   "webMaster", "pubDate", "lastBuildDate", "category", "generator", "docs", "ttl", "image", "url",
                   "width", "height", "item", "guid", "author", "comments", "enclosure"}),
    _ATOM: frozenset({"feed", "entry", "title", "link", "id", "updated", "published", "summary", "content", "author",
                      "name", "uri", "email", "category", "subtitle", "rights", "generator", "icon", "logo"}),
    _RSS1: frozenset({"channel", "title", "link", "description", "items", "item", "image", "url"}),
    _RDF: frozenset({"RDF", "Seq", "li"}),
    _DC: frozenset({"creator", "date", "language", "rights", "publisher"}),
    _CONTENT: frozenset({"encoded"}),
    _MEDIA: frozenset({"thumbnail", "content"}),
}  # fmt: skip
# What makes feedparser's reading depend on more than the elements: a DTD, a base URI, base64 content, and
# encodings other than UTF-8.
_DTD_BYTES = (b"<!DOCTYPE", b"<!ENTITY")
_UNSURE_BYTES = (b"xml:base", b"xml:lang", b"base64")
# C1 controls, which feedparser reads as the Windows-1252 characters they were most likely meant to be.
_C1 = re.compile(rb"\xc2[\x80-\x9f]|&#(?:1[2-5][0-9]|x[89][0-9a-fA-F]);")
# Elements that hold other elements; any other with a child is read differently by the two parsers.
_CONTAINERS = frozenset(
    {"rss", "channel", "item", "image", "feed", "entry", "author", "RDF", "items", "Seq", "content"}
)
# The same as expat names them with a space for namespace separator: "uri local", or "local" without a namespace.
_KNOWN = frozenset(f"{uri} {local}".lstrip() for uri, names in _ELEMENTS.items() for local in names)
_CONTAINER_NAMES = frozenset(name for name in _KNOWN if name.rpartition(" ")[2] in _CONTAINERS)
_ATOM_LINK = f"{_ATOM} link"
_ATOM_TEXT = frozenset(f"{_ATOM} {local}" for local in ("content", "summary", "title", "subtitle", "rights"))
# Known elements whose reading depends on nothing but their parent: neither an attribute nor the markup inside.
_PLAIN = _KNOWN - _ATOM_TEXT - {"rss", _ATOM_LINK}
_DECLARED = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([^"']+)""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)
# Content types feedparser reads as XML in the declared encoding (text/xml defaults to ASCII unless a charset is given).
_XML_TYPES = frozenset({"application/xml", "application/rss+xml", "application/atom+xml", "application/rdf+xml"})
_UTF8 = frozenset({b"utf-8", b"utf8"})
_MODIFIED_TAGS = (b"updated>", b"modified>")
# An absolute web link that urljoin leaves as it is, whatever the base: a host, and no empty query, fragment or
# path parameters, no brackets, spaces or controls.
_JOINED = re.compile(
    r"https?://[^/?#\[\]\s\x00-\x1f\x7f]+(?:/[^?#;\s\x00-\x1f\x7f]*)?(?:\?[^#\s\x00-\x1f\x7f]+)?(?:#[^\s\x00-\x1f\x7f]+)?"
)


def parse(body: bytes, headers: dict[str, str], url: str, *, sure_only: bool = True) -> ParsedFeed | None:
    """The feed as feedparser-rs reads it; None when it cannot, or (with `sure_only`) when it may read the document
    differently from feedparser. `headers` are lower-cased response headers; relative links resolve against `url`.
    A document with a DTD is always left to feedparser, behind its guard."""
    # Markup only: feedparser-rs would take a body that reads as a URL for one to fetch.
    if not body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or _has_dtd(body):
        return None
    if sure_only and not _sure_before(body, headers.get("content-type", "")):
        return None
    try:
        result = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
        entries = result.entries
        if result.bozo or not entries or (sure_only and result.version not in _FORMATS):
            return None
        dated = _modified_tags(body)
        typed = tuple(_entry(e, url, dated, sure_only) for e in entries)
    except Exception:  # a document the fast parser fails on, or may read otherwise, is not lost: feedparser reads it
        return None
    feed = result.feed
    return ParsedFeed(title=feed.title or "", lang=feed.language or "", entries=typed, format=result.version)


def _sure_before(body: bytes, content_type: str) -> bool:
    """Whether the bytes are well-formed UTF-8 XML, without DTD, base URI or base64, in known namespaces only."""
    start = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    if body[start : start + 1] != b"<" or any(marker in body for marker in _UNSURE_BYTES) or _has_c1(body):
        return False
    declared = _DECLARED.match(body, start)
    if declared and declared.group(1).lower() not in _UTF8:
        return False
    return _utf8_xml_type(content_type) and _well_formed(body)


def _has_c1(body: bytes) -> bool:
    # Both bytes are rare in feeds, and looking for them is far quicker than the pattern.
    return (b"\xc2" in body or b"&#" in body) and _C1.search(body) is not None


def _unsure_element(name: str, attrs: dict[str, str], parent: str) -> bool:
    """Whether an element (by its expat name, "uri local") may be read differently by the two parsers."""
    if name not in _KNOWN or parent not in _CONTAINER_NAMES:
        return True
    if name == "rss":
        return attrs.get("version") != "2.0"
    return name == _ATOM_LINK and not attrs.get("href")


def _has_dtd(body: bytes) -> bool:
    return any(marker in body for marker in _DTD_BYTES)


def _utf8_xml_type(content_type: str) -> bool:
    """Whether feedparser takes a response of this type as XML, without overriding the document's UTF-8."""
    if not content_type:
        return True
    mime = content_type.split(";", 1)[0].strip().lower()
    charset = _CHARSET.search(content_type)
    declared = charset.group(1).lower().encode() if charset else b""
    if declared and declared not in _UTF8:
        return False
    return mime in _XML_TYPES or (mime == "text/xml" and bool(declared))


def _well_formed(body: bytes) -> bool:
    """Expat reads the whole document with namespaces: no ill-formed XML, no undeclared prefix, only known elements
    (outside Atom content, which is markup), and an RSS root that says it is version 2.0."""
    reader = expat.ParserCreate(encoding="utf-8", namespace_separator=" ")
    unknown: list[str] = []
    depth_in_content = [0]
    parents: list[str] = ["rss"]  # expat names of the open elements, under a root that may hold the document's

    def start(name: str, attrs: dict[str, str]) -> None:
        if depth_in_content[0]:
            depth_in_content[0] += 1
        elif name in _PLAIN and parents[-1] in _CONTAINER_NAMES:  # most elements: decided without a call
            parents.append(name)
        elif _unsure_element(name, attrs, parents[-1]):
            unknown.append(name)
            reader.StartElementHandler = reader.EndElementHandler = None  # the rest is only checked for syntax
        elif name in _ATOM_TEXT:
            depth_in_content[0] = 1
        else:
            parents.append(name)

    def end(name: str) -> None:
        if depth_in_content[0]:
            depth_in_content[0] -= 1
        else:
            parents.pop()

    reader.StartElementHandler = start
    reader.EndElementHandler = end
    try:
        reader.Parse(body, True)
    except expat.ExpatError:
        return False
    return not unknown


def _looks_marked_up(text: str) -> bool:
    return "<" in text or "&" in text


def _modified_tags(body: bytes) -> bool:
    return any(tag in body for tag in _MODIFIED_TAGS)


def _sure_after(raw: Any, link: str | None, entry: ParsedEntry) -> bool:
    """Whether an entry reads alike: absolute web links (feedparser resolves others its own way), and every date it
    states understood."""
    if link and not link.strip().startswith(("http://", "https://")):
        return False
    # feedparser calls plain text that looks like markup HTML, and a title HTML or not by its looks.
    if _looks_marked_up(entry.title) or (not entry.summary_html and _looks_marked_up(entry.summary)):
        return False
    if entry.published is None and (raw.published or raw.updated or raw.created):
        return False
    return not (entry.updated is None and raw.updated and raw.updated != raw.published)


def _entry(raw: Any, url: str, dated: bool, sure_only: bool) -> ParsedEntry:
    """One entry as a typed entry; with `sure_only`, raise _Unsure for one feedparser may read differently."""
    typed = _typed(raw, url, dated, sure_only)
    if sure_only and not _sure_after(raw, raw.link, typed):
        raise _Unsure
    return typed


def _typed(raw: Any, url: str, dated: bool, sure_only: bool) -> ParsedEntry:
    title, title_html = _text(raw.title, raw.title_detail)
    summary, summary_html = _summary(raw)
    return ParsedEntry(
        guid=bounded(raw.id or ""),
        link=bounded(_link(raw.link, url)),
        title=title,
        title_html=title_html,
        summary=summary,
        summary_html=summary_html,
        published=_date(raw),
        updated=_modified(raw, dated, sure_only),
        author=bounded(raw.author or ""),
        language=bounded(raw.language or ""),
        tags=tuple(t.term or t.label or "" for t in raw.tags[:MAX_LISTED]),
    )


def _link(link: str | None, base: str) -> str:
    link = (link or "").strip()
    if _JOINED.fullmatch(link) and link.isascii():  # what urljoin would give back as it is
        return link
    return urljoin(base, link) if link else ""


def _text(value: str | None, detail: Any) -> tuple[str, bool]:
    cut = bounded(value)
    if not cut.strip():
        return "", False
    return cut, getattr(detail, "type", None) != "text/plain"


def _summary(raw: Any) -> tuple[str, bool]:
    """The summary (feedparser's description: the subtitle when there is no summary), else the first content."""
    text, html = _text(raw.summary, raw.summary_detail)
    if not text and raw.summary is None:
        text, html = _text(raw.subtitle, raw.subtitle_detail)
    if not text and raw.content:
        text, html = _text(raw.content[0].value, raw.content[0])
    return text, html


def _date(raw: Any) -> datetime | None:
    for value in (raw.published_parsed, raw.updated_parsed, raw.created_parsed):
        when = from_timetuple(value)
        if when is not None:
            return when
    return None


def _modified(raw: Any, dated: bool, sure_only: bool) -> datetime | None:
    """The entry's own modification date. feedparser-rs answers with the published date when there is none, so a
    modification date equal to the published one is only certain when the document names no modification at all."""
    if not dated:
        return None
    if sure_only and raw.published and raw.updated == raw.published:
        raise _Unsure
    return from_timetuple(raw.updated_parsed)


class _Unsure(Exception):
    """An entry that feedparser may read differently: the document is left to feedparser."""
