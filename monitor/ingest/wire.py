"""Formats feedparser does not read — JSON Feed, IPTC ninjs (JSON) and IPTC NewsML-G2 (XML) — as feed entries.

Entries come out in feedparser's shape (`title`, `summary`, `content`, `link`, `id`, `published_parsed`,
`updated_parsed`, `tags`, `author`, `*_detail.type`) plus `language`, `places` and `subjects`, so one
normalizer handles every format.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from monitor.ingest.errors import ErrorKind, FeedError

Entry = dict[str, Any]
Kind = Literal["json", "newsml", "feed"]

PLAIN = "text/plain"
HTML = "text/html"
# Associations nest whole ninjs objects; deeper than this is a malformed or hostile document.
_MAX_DEPTH = 4
_MAX_SUBJECTS = 50
_MAX_PLACES = 20
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Well-known IPTC vocabularies, so `http://cv.iptc.org/newscodes/mediatopic/11000000` and `medtop:11000000` agree.
_IPTC_SCHEMES = {
    "http://cv.iptc.org/newscodes/mediatopic/": "medtop",
    "http://cv.iptc.org/newscodes/subjectcode/": "subj",
    "http://cv.iptc.org/newscodes/genre/": "genre",
    "http://cv.iptc.org/newscodes/ninature/": "ninat",
}
_NINJS_MARKERS = frozenset(
    {"headline", "headlines", "versioncreated", "firstcreated", "body_text", "body_html", "bodies",
     "descriptions", "description_text", "description_html", "associations", "located", "subject", "subjects",
     "place", "places", "renditions", "pubstatus", "byline", "by", "slugline", "urgency"}
)  # fmt: skip
_GEO_TYPES = ("cpnat:geoarea", "cpnat:poi")
# What can end a part of a DTD's internal subset that may itself contain "]>": literals, comments and PIs.
_SUBSET_PART = re.compile(rb"[\"'\]]|<!--|<\?")
_SUBSET_CLOSE = re.compile(rb"\s*>")
_FIRST_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")
_WS = re.compile(r"\s+")
# Elements whose end is a visual break: their text must not run into the next element's.
_XML_BLOCKS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hl1", "hl2", "block", "td", "tr",
     "table", "blockquote", "pre", "section", "article", "dd", "dt", "caption", "figcaption", "media-caption"}
)  # fmt: skip
_XML_SKIP = frozenset({"script", "style", "head", "body.head", "media", "object"})


@dataclass(frozen=True)
class WireFeed:
    format: str
    title: str = ""
    lang: str = ""
    entries: list[Entry] = field(default_factory=list)


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


@dataclass(frozen=True)
class Prolog:
    root: str  # the first element's local name; "" when the data ends (or a construct never ends) before one
    doctype: bytes  # the DOCTYPE declaration with its internal subset, to the end of the data if it never ends


def xml_prolog(data: bytes) -> Prolog:
    """Walk past XML declarations, PIs, comments and the DOCTYPE to the first element, in time linear in the data.

    Each construct is skipped with one search for its end; one that never ends stops the walk there.
    """
    pos, doctype = 0, b""
    while (pos := data.find(b"<", pos)) >= 0:
        if data.startswith(b"<?", pos):
            end = _after(data, b"?>", pos + 2)
        elif data.startswith(b"<!--", pos):
            end = _after(data, b"-->", pos + 4)
        elif data[pos : pos + 9].upper() == b"<!DOCTYPE":
            end = _doctype_end(data, pos + 9)
            doctype = data[pos : end if end >= 0 else len(data)]
        elif m := _FIRST_TAG.match(data, pos):
            return Prolog(m.group(1).decode("ascii", errors="replace"), doctype)
        else:
            end = pos + 1
        if end < 0:
            break
        pos = end
    return Prolog("", doctype)


def _after(data: bytes, closer: bytes, start: int) -> int:
    end = data.find(closer, start)
    return end + len(closer) if end >= 0 else -1


def _doctype_end(data: bytes, pos: int) -> int:
    """Where a DOCTYPE declaration ends (-1: never): at its first ">", or past the "]>" closing its internal subset."""
    gt, bracket = data.find(b">", pos), data.find(b"[", pos)
    if bracket < 0 or 0 <= gt < bracket:
        return gt + 1 if gt >= 0 else -1
    pos = bracket + 1
    while m := _SUBSET_PART.search(data, pos):
        part = m.group()
        if part == b"]":
            close = _SUBSET_CLOSE.match(data, m.end())
            if close:
                return close.end()
            pos = m.end()
            continue
        pos = _after(data, b"-->" if part == b"<!--" else b"?>" if part == b"<?" else part, m.end())
        if pos < 0:
            return -1
    return -1


# --- shared helpers -------------------------------------------------------------------------------------------


def _str(v: object) -> str:
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return ""


def _when(value: object) -> time.struct_time | None:
    """A wire timestamp (ISO 8601 or RFC 822) as a UTC struct_time, the shape feedparser gives."""
    text = _str(value)
    if not text:
        return None
    dt: datetime | None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            dt = None
    if dt is None:
        return None
    try:
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).utctimetuple()
    except (OverflowError, ValueError):
        return None


def qcode(uri_or_code: str) -> str:
    """A subject code in its short form: IPTC vocabulary URIs become `alias:code`, anything else stays as given."""
    for prefix, alias in _IPTC_SCHEMES.items():
        if uri_or_code.startswith(prefix) and len(uri_or_code) > len(prefix):
            return f"{alias}:{uri_or_code[len(prefix) :].strip('/')}"
    return uri_or_code


def _unique(values: list[str], limit: int) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))[:limit]


def _entry(
    *,
    guid: str,
    title: str,
    summary: str = "",
    summary_type: str = PLAIN,
    body: str = "",
    body_type: str = PLAIN,
    link: str = "",
    published: object = None,
    updated: object = None,
    author: str = "",
    language: str = "",
    tags: list[str] | None = None,
    places: list[str] | None = None,
    subjects: list[str] | None = None,
) -> Entry:
    entry: Entry = {
        "id": guid,
        "title": title,
        "title_detail": {"type": PLAIN},
        "summary": summary,
        "summary_detail": {"type": summary_type},
        "link": link,
        "author": author,
        "language": language,
        "tags": [{"term": t} for t in _unique(tags or [], _MAX_SUBJECTS)],
        "places": _unique(places or [], _MAX_PLACES),
        "subjects": _unique(subjects or [], _MAX_SUBJECTS),
        "published_parsed": _when(published) or _when(updated),
        "updated_parsed": _when(updated),
    }
    if body:
        entry["content"] = [{"value": body, "type": body_type}]
    return entry


# --- JSON: JSON Feed and ninjs --------------------------------------------------------------------------------


def parse_json(body: bytes, base_url: str) -> WireFeed:
    """A JSON Feed (1.0/1.1) or an IPTC ninjs document (1.x/2.x; one item, a list, or a package)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise FeedError(ErrorKind.PARSE, f"invalid JSON: {str(exc)[:200]}") from exc
    if isinstance(doc, dict) and _is_jsonfeed(doc):
        return _jsonfeed(doc, base_url)
    if _is_ninjs(doc) or (isinstance(doc, list) and doc and all(_is_ninjs(d) for d in doc)):
        return _ninjs(doc)
    raise FeedError(ErrorKind.NOT_A_FEED, "JSON, but neither a JSON Feed nor IPTC ninjs")


def _is_jsonfeed(doc: dict[str, Any]) -> bool:
    version = _str(doc.get("version"))
    return "jsonfeed.org/version/" in version or (not version and isinstance(doc.get("items"), list))


def _jsonfeed(doc: dict[str, Any], base_url: str) -> WireFeed:
    version = _str(doc.get("version"))
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedError(ErrorKind.PARSE, "JSON Feed without an items list")
    base = _str(doc.get("home_page_url")) or base_url
    feed_lang = _str(doc.get("language"))
    entries = [_jsonfeed_entry(i, base) for i in items if isinstance(i, dict)]
    fmt = "jsonfeed11" if version.rstrip("/").endswith("/1.1") else "jsonfeed10"
    return WireFeed(fmt, _str(doc.get("title")), feed_lang, entries)


def _jsonfeed_author(item: dict[str, Any]) -> str:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _str(authors[0].get("name"))
    author = item.get("author")
    return _str(author.get("name")) if isinstance(author, dict) else ""


def _jsonfeed_entry(item: dict[str, Any], base: str) -> Entry:
    link = _str(item.get("url")) or _str(item.get("external_url"))
    html, text = _str(item.get("content_html")), _str(item.get("content_text"))
    tags = item.get("tags")
    return _entry(
        guid=_str(item.get("id")),
        title=_str(item.get("title")),
        summary=_str(item.get("summary")),
        body=html or text,
        body_type=HTML if html else PLAIN,
        link=urljoin(base, link) if link and base else link,
        published=item.get("date_published"),
        updated=item.get("date_modified"),
        author=_jsonfeed_author(item),
        language=_str(item.get("language")),
        tags=[_str(t) for t in tags] if isinstance(tags, list) else [],
    )


def _is_ninjs(obj: object) -> bool:
    if not isinstance(obj, dict):
        return False
    std = obj.get("standard") or obj.get("$standard")
    if isinstance(std, dict) and _str(std.get("name")).lower() == "ninjs":
        return True
    return bool(_str(obj.get("uri"))) and any(k in obj for k in _NINJS_MARKERS)


def _ninjs(doc: dict[str, Any] | list[Any]) -> WireFeed:
    tops = doc if isinstance(doc, list) else [doc]
    entries: list[Entry] = []
    seen: set[str] = set()
    major = "2"
    for top in tops:
        if not isinstance(top, dict):
            continue
        if "headline" in top or "body_text" in top or "description_text" in top or "subject" in top:
            major = "1"
        for obj in _ninjs_stories(top, depth=0, top=True):
            uri = _str(obj.get("uri"))
            if uri and uri in seen:
                continue
            seen.add(uri)
            entries.append(_ninjs_entry(obj))
    return WireFeed(f"ninjs{major}", entries=entries)


def _ninjs_stories(obj: dict[str, Any], *, depth: int, top: bool) -> list[dict[str, Any]]:
    """The object itself when it is a story, then its associated text stories (pictures of a story are not news)."""
    kind = _str(obj.get("type")).lower()
    has_text = bool(_ninjs_headline(obj) or _suffixed(obj, "body")[0] or _role_value(obj.get("bodies"), ())[0])
    found: list[dict[str, Any]] = [obj] if kind == "text" or (top and kind != "composite" and has_text) else []
    assoc = obj.get("associations")
    children = assoc.values() if isinstance(assoc, dict) else assoc if isinstance(assoc, list) else []
    if depth < _MAX_DEPTH:
        for child in children:
            if isinstance(child, dict) and _str(child.get("type")).lower() in ("text", "composite"):
                found.extend(_ninjs_stories(child, depth=depth + 1, top=False))
    if not found and top and has_text:  # a package with only pictures attached is still one story
        found.append(obj)
    return found


def _role_value(blocks: object, preferred: tuple[str, ...]) -> tuple[str, str]:
    """Value and content type of the block whose role is preferred (else the first) in a ninjs 2.x array."""
    if not isinstance(blocks, list):
        return "", ""
    usable = [b for b in blocks if isinstance(b, dict) and _str(b.get("value"))]
    if not usable:
        return "", ""

    def rank(b: dict[str, Any]) -> int:
        role = _str(b.get("role")).lower().rsplit(":", 1)[-1]
        return preferred.index(role) if role in preferred else len(preferred)

    best = min(usable, key=rank)
    return _str(best.get("value")), _str(best.get("contenttype")).lower()


def _suffixed(obj: dict[str, Any], prefix: str) -> tuple[str, str]:
    """A ninjs 1.x `prefix_text` / `prefix_html` / `prefix_*` value, plain text preferred."""
    for key, mime in ((f"{prefix}_text", PLAIN), (f"{prefix}_html", HTML)):
        if _str(obj.get(key)):
            return _str(obj.get(key)), mime
    for key, value in obj.items():
        if isinstance(key, str) and key.startswith(f"{prefix}_") and _str(value):
            return _str(value), HTML if "html" in key or "xhtml" in key else PLAIN
    return "", ""


def _ninjs_headline(obj: dict[str, Any]) -> str:
    return _role_value(obj.get("headlines"), ("main", "headline", ""))[0] or _str(obj.get("headline"))


def _mime(contenttype: str, fallback: str) -> str:
    if not contenttype:
        return fallback
    return HTML if "html" in contenttype or "xml" in contenttype else PLAIN


def _ninjs_entry(obj: dict[str, Any]) -> Entry:
    desc, desc_type = _role_value(obj.get("descriptions"), ("summary", "abstract", "", "caption"))
    desc_type = _mime(desc_type, PLAIN)
    if not desc:
        desc, desc_type = _suffixed(obj, "description")
    body, body_type = _role_value(obj.get("bodies"), ("main", "body", ""))
    body_type = _mime(body_type, HTML)
    if not body:
        body, body_type = _suffixed(obj, "body")
    places = [_str(obj.get("located"))]
    subjects: list[str] = []
    tags: list[str] = []
    for p in [*_dicts(obj.get("places")), *_dicts(obj.get("place"))]:
        places.append(_str(p.get("name")) or _str(p.get("literal")))
    for s in [*_dicts(obj.get("subjects")), *_dicts(obj.get("subject"))]:
        scheme, code = _str(s.get("scheme")), _str(s.get("code"))
        uri = _str(s.get("uri")) or (scheme + code if scheme and code else "")
        subjects.append(qcode(uri) if uri else _str(s.get("literal")) or code)
        tags.append(_str(s.get("name")))
    uri = _str(obj.get("uri"))
    return _entry(
        guid=uri,
        title=_ninjs_headline(obj) or _str(obj.get("title")) or _str(obj.get("slugline")),
        summary=desc,
        summary_type=desc_type,
        body=body,
        body_type=body_type,
        published=obj.get("firstcreated") or obj.get("versioncreated"),
        updated=obj.get("versioncreated"),
        author=_str(obj.get("by")) or _str(obj.get("byline")),
        language=_str(obj.get("language")),
        tags=tags,
        places=places,
        subjects=subjects,
    )


def _dicts(v: object) -> list[dict[str, Any]]:
    return [d for d in v if isinstance(d, dict)] if isinstance(v, list) else []


# --- XML: NewsML-G2 -------------------------------------------------------------------------------------------


def parse_newsml(body: bytes) -> WireFeed:
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
    return WireFeed("newsml-g2", title, "", [_newsml_entry(i) for i in items])


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


def _newsml_entry(item: Element) -> Entry:
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
    return _entry(
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
