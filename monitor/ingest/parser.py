"""Turn a fetched body into feed entries: RSS/Atom/RDF through feedparser, JSON Feed, ninjs and NewsML-G2 through
`wire`; decide when a body is not a feed at all."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

import feedparser

from monitor.ingest import wire
from monitor.ingest.errors import ErrorKind, FeedError

# Internal entity declarations with a quoted (literal) value; external ones are never fetched and expand nothing.
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s*)?([^\s\"'>]+)\s+(?:\"([^\"]*)\"|'([^']*)')")
_CHAR_REF = re.compile(rb"&#(?:x([0-9A-Fa-f]{1,8})|([0-9]{1,9}));")
_MAX_ENTITIES = 64
# Byte order marks, and EBCDIC's "<?xm", of the encodings in which "<!ENTITY" is not ASCII bytes; longest first.
_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"), (b"\x4c\x6f\xa7\x94", "cp037"),
)  # fmt: skip
# How many bytes all references to literal entities may add to a document; real feeds add a few KB at most.
MAX_ENTITY_GROWTH = 256 * 1024
# Per text field of an entry, kept right after parsing: far above the normalizer's limits (title 500, summary 2,000
# characters of text), so markup-heavy HTML still yields them in full, and far below what entities could expand to.
MAX_FIELD_CHARS = 100_000
_MAX_BLOCKS = 4  # content blocks kept per entry
# Where feedparser ends the prolog it rewrites, and what that prolog may hold: real feeds have a few KB there.
_FEEDPARSER_HEAD_END = re.compile(rb"<\w")
_BLANK_RUN = re.compile(rb"\s{2,}")
_MAX_PROLOG_BYTES = 1024 * 1024
_MAX_DOCTYPES = 4
_MAX_WIDE_BLANK_RUN = 64
_MAX_DECLARATION_BYTES = 1024


def entity_hazard(body: bytes) -> str:
    """Why the document's DTD would make the parser expand it out of bounds, or "" when its entities are harmless.

    Refused: entities built from other entities (also through a character reference to "&" or "%"), more than
    _MAX_ENTITIES declarations, and literal entities whose references would add more than MAX_ENTITY_GROWTH bytes.
    Harmless ones (a character entity such as &nbsp;, a short literal, an external DTD) stay for feedparser to read.
    """
    return _entity_hazard(_as_utf8(body)[0])


def _entity_hazard(body: bytes) -> str:
    decls = _ENTITY_DECL.findall(wire.xml_prolog(body).doctype)
    if len(decls) > _MAX_ENTITIES:
        return f"the document declares more than {_MAX_ENTITIES} XML entities"
    growth = 0
    for percent, name, double, single in decls:
        value = _CHAR_REF.sub(_char_ref, double or single)
        if b"&" in value or b"%" in value:
            return "the document declares XML entities built from other entities"
        ref = (b"%" if percent else b"&") + name + b";"
        if len(value) > len(ref):
            growth += body.count(ref) * (len(value) - len(ref))
        if growth > MAX_ENTITY_GROWTH:
            return f"XML entity references would grow the document by more than {MAX_ENTITY_GROWTH} bytes"
    return ""


def _as_utf8(body: bytes) -> tuple[bytes, bool]:
    """The document in UTF-8 (and True) when its first bytes show an encoding feedparser would convert in which
    "<" and whitespace are not ASCII bytes; else the body as it is (and False)."""
    encoding = next((enc for marks, enc in _WIDE_ENCODINGS if body.startswith(marks)), "")
    if not encoding and b"\x00" in body[:4]:  # no BOM: the position of the zero bytes in "<?" tells the width
        encoding = "utf-32" if body[:4].count(b"\x00") == 3 else "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        if encoding == "utf-32":
            encoding = "utf-32-be" if body[:1] == b"\x00" else "utf-32-le"
    return (body.decode(encoding, errors="replace").encode("utf-8"), True) if encoding else (body, False)


def _tamed_prolog(body: bytes) -> bytes:
    """The body ready for feedparser, whose DTD rewriting runs line-anchored patterns over everything before the
    first element: from every line start they rescan the rest of that prolog, quadratic in blank lines and in
    declarations that never close. Blank runs there are collapsed to one line break (their meaning is the same);
    what cannot be collapsed (a wide encoding) or is still too costly is refused as a FeedError(PARSE)."""
    view, converted = _as_utf8(body)
    end = m.start() if (m := _FEEDPARSER_HEAD_END.search(view)) else 0
    head = view[:end]
    hazard = _entity_hazard(view) or _prolog_hazard(head, converted) or _declaration_hazard(view, converted)
    if hazard:
        raise FeedError(ErrorKind.PARSE, f"{hazard} (refused before parsing)")
    return body if converted else _declaration_on_its_own_line(_BLANK_RUN.sub(b"\n", head) + body[end:])


def _declaration_hazard(view: bytes, converted: bool) -> str:
    """feedparser finds the declared encoding with a backtracking pattern over the whole first line, cubic in a
    long line with many "encoding=" in it; a declaration that ends early is moved onto a line of its own."""
    start = len(codecs.BOM_UTF8) if view.startswith(codecs.BOM_UTF8) else 0
    newline = view.find(b"\n", start)
    line = view[start : newline if newline >= 0 else len(view)]
    ends_early = line.startswith(b"<?") and 0 <= line.find(b"?>", 0, _MAX_DECLARATION_BYTES)
    if len(line) <= _MAX_DECLARATION_BYTES or b"encoding=" not in line or (ends_early and not converted):
        return ""
    if converted and line.count(b"encoding=") <= 1:
        return ""
    return f"a first line of {len(line)} bytes with an unfinished or repeated encoding declaration"


def _declaration_on_its_own_line(body: bytes) -> bytes:
    start = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    end = body.find(b"?>", start, start + _MAX_DECLARATION_BYTES) + 2 if body.startswith(b"<?", start) else -1
    if end <= 1 or body[end : end + 1] in (b"\n", b"\r"):
        return body
    return body[:end] + b"\n" + body[end:]


def _prolog_hazard(head: bytes, converted: bool) -> str:
    if len(head) > _MAX_PROLOG_BYTES:
        return f"more than {_MAX_PROLOG_BYTES} bytes before the root element"
    if head.count(b"<!ENTITY") > _MAX_ENTITIES or head.count(b"<!DOCTYPE") > _MAX_DOCTYPES:
        return "too many DOCTYPE or XML entity declarations before the root element"
    if converted and any(len(run) > _MAX_WIDE_BLANK_RUN for run in _BLANK_RUN.findall(head)):
        return f"blank runs of more than {_MAX_WIDE_BLANK_RUN} characters before the root element"
    return ""


def _char_ref(m: re.Match[bytes]) -> bytes:
    """A character reference as the character it stands for (UTF-8), as the parser reads it in an entity value."""
    hex_digits, digits = m.groups()
    code = int(hex_digits, 16) if hex_digits else int(digits)
    return chr(code).encode("utf-8", errors="replace") if code <= 0x10FFFF else b"?"


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    lang: str
    entries: list[dict[str, Any]]
    warning: str = ""  # feedparser's "bozo" complaint about a feed it could still read
    format: str = ""  # e.g. rss20, atom10, rss10, jsonfeed11, ninjs2, newsml-g2


def parse_feed(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    """Parse any supported format; raise FeedError(NOT_A_FEED or PARSE) when nothing usable is there."""
    lowered = {k.lower(): v for k, v in headers.items()}
    kind = wire.sniff(body, lowered.get("content-type", ""))
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
        _bound_text(entry)
    return parsed


def _bound_text(entry: dict[str, Any]) -> None:
    """Cut every text field of an entry to MAX_FIELD_CHARS, so what is handed on stays small whatever was parsed."""
    for key, value in entry.items():
        if isinstance(value, str):
            entry[key] = value[:MAX_FIELD_CHARS]
        elif isinstance(value, dict):
            _bound_value(value)
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "value" in v for v in value):
            del value[_MAX_BLOCKS:]
            for block in value:
                _bound_value(block)


def _bound_value(detail: dict[str, Any]) -> None:
    if isinstance(detail.get("value"), str):
        detail["value"] = detail["value"][:MAX_FIELD_CHARS]


def _parse_with_feedparser(body: bytes, lowered: dict[str, str], url: str) -> ParsedFeed:
    # Only headers that change how bytes are decoded or resolved; never let feedparser fetch anything.
    hdrs = {k: v for k, v in lowered.items() if k in ("content-type", "content-location", "content-language")}
    hdrs.setdefault("content-location", url)
    # Entry links are resolved against the feed's URL either way; resolving URIs inside summary HTML costs a third
    # of feedparser's time, and that HTML is flattened to text anyway.
    result = feedparser.parse(
        _tamed_prolog(body), response_headers=hdrs, sanitize_html=False, resolve_relative_uris=False
    )
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
