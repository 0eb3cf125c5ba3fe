"""What feedparser must never be handed: DTDs and prologs whose entities or layout would make it expand the
document, or rescan it, out of bounds. Documents are checked, and their harmless prologs reshaped, before parsing."""

from __future__ import annotations

import codecs
import re

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats.prolog import xml_prolog

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
    decls = _ENTITY_DECL.findall(xml_prolog(body).doctype)
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


def tamed_prolog(body: bytes) -> bytes:
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
