"""IPTC NewsML-G2 (XML) read into typed entries: a newsItem, or a newsMessage of many."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats.entry import ParsedEntry, ParsedFeed
from monitor.ingest.formats.fields import qcode, wire_entry

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_GEO_TYPES = ("cpnat:geoarea", "cpnat:poi")
_WS = re.compile(r"\s+")
# Elements whose end is a visual break: their text must not run into the next element's.
_XML_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hl1", "hl2", "block", "td", "tr",
     "table", "blockquote", "pre", "section", "article", "dd", "dt", "caption", "figcaption", "media-caption"}
)  # fmt: skip
_XML_SKIP = frozenset({"script", "style", "head", "body.head", "media", "object"})


def parse(body: bytes) -> ParsedFeed:
    """A NewsML-G2 newsItem or a newsMessage of many; entity declarations and external references are refused."""
    try:
        root = safe_et.fromstring(body)
    except DefusedXmlException as exc:
        raise FeedError(ErrorKind.PARSE, f"refused unsafe XML ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise FeedError(ErrorKind.PARSE, f"NewsML-G2 is not well-formed XML: {exc}") from exc
    if _local(root) == "newsItem":
        items, title = [root], ""
    else:
        items = [el for el in root.iter() if _local(el) == "newsItem"]
        header = _kid(root, "header")
        title = _kid_text(header, "sender") if header is not None else ""
    return ParsedFeed(title, "", tuple(_entry(i) for i in items), format="newsml-g2")


def _local(el: Element) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _kids(el: Element | None, name: str) -> list[Element]:
    return [c for c in el if _local(c) == name] if el is not None else []


def _kid(el: Element | None, name: str) -> Element | None:
    kids = _kids(el, name)
    return kids[0] if kids else None


def _kid_text(el: Element | None, name: str) -> str:
    kid = _kid(el, name)
    return _xml_text(kid) if kid is not None else ""


def _by_role(els: list[Element], preferred: tuple[str, ...]) -> str:
    usable = [e for e in els if _xml_text(e)]
    if not usable:
        return ""

    def rank(e: Element) -> int:
        role = (e.get("role") or "").lower().rsplit(":", 1)[-1]
        return preferred.index(role) if role in preferred else len(preferred)

    return _xml_text(min(usable, key=rank))


def _name_of(el: Element) -> str:
    return _kid_text(el, "name") or (el.get("literal") or "").strip()


def _entry(item: Element) -> ParsedEntry:
    meta, cmeta = _kid(item, "itemMeta"), _kid(item, "contentMeta")
    places = [_name_of(loc) for loc in _kids(cmeta, "located")]
    subjects: list[str] = []
    tags = [_xml_text(k) for k in _kids(cmeta, "keyword")]
    for s in _kids(cmeta, "subject"):
        if (s.get("type") or "").lower() in _GEO_TYPES:
            places.append(_name_of(s))
            continue
        code = (s.get("qcode") or "").strip() or qcode((s.get("uri") or "").strip())
        subjects.append(code)
        tags.append(_kid_text(s, "name"))
    lang_el = _kid(cmeta, "language")
    language = (lang_el.get("tag") or "") if lang_el is not None else ""
    return wire_entry(
        guid=(item.get("guid") or "").strip(),
        title=_by_role(_kids(cmeta, "headline"), ("main", "headline", "")) or _kid_text(meta, "title"),
        summary=_by_role(_kids(cmeta, "description"), ("summary", "abstract", "", "caption")),
        body=_newsml_body(_kid(item, "contentSet")),
        published=_kid_text(meta, "firstCreated") or _kid_text(meta, "versionCreated"),
        updated=_kid_text(meta, "versionCreated"),
        author=_kid_text(cmeta, "by") or _kid_text(cmeta, "creator"),
        language=language.strip() or (item.get(_XML_LANG) or "").strip(),
        tags=tags,
        places=places,
        subjects=subjects,
    )


def _newsml_body(content_set: Element | None) -> str:
    for holder in [*_kids(content_set, "inlineXML"), *_kids(content_set, "inlineData")]:
        inner = next((e for e in holder.iter() if _local(e) == "body.content"), None)
        if inner is None:
            inner = next((e for e in holder.iter() if _local(e) == "body"), holder)
        text = _xml_text(inner)
        if text:
            return text
    return ""


def _xml_text(root: Element) -> str:
    """Text of an element and its descendants, with breaks between blocks; iterative, so depth cannot overflow."""
    out: list[str] = []
    stack: list[tuple[Element, bool]] = [(root, False)]
    while stack:
        el, closing = stack.pop()
        name = _local(el)
        if closing or name in _XML_SKIP:
            if closing and name in _XML_BLOCKS:
                out.append(" ")
            if el is not root and el.tail:
                out.append(el.tail)
            continue
        if name in _XML_BLOCKS:
            out.append(" ")
        if el.text:
            out.append(el.text)
        stack.append((el, True))
        stack.extend((child, False) for child in reversed(list(el)))
    return _WS.sub(" ", "".join(out)).strip()
