"""IPTC ninjs (JSON news, 1.x and 2.x) read into typed entries: one story, a list, or a package of associations."""

from __future__ import annotations

from typing import Any

from monitor.ingest.formats.entry import ParsedEntry, ParsedFeed
from monitor.ingest.formats.fields import qcode, text, wire_entry

PLAIN = "text/plain"
HTML = "text/html"
# Associations nest whole ninjs objects; deeper than this is a malformed or hostile document.
_MAX_DEPTH = 4
_NINJS_MARKERS = frozenset(
    {"headline", "headlines", "versioncreated", "firstcreated", "body_text", "body_html", "bodies",
     "descriptions", "description_text", "description_html", "associations", "located", "subject", "subjects",
     "place", "places", "renditions", "pubstatus", "byline", "by", "slugline", "urgency"}
)  # fmt: skip


def detect(doc: object) -> bool:
    """Whether a decoded JSON document is ninjs: one story object, or a non-empty list of them."""
    if isinstance(doc, list):
        return bool(doc) and all(_is_ninjs(d) for d in doc)
    return _is_ninjs(doc)


def _is_ninjs(obj: object) -> bool:
    if not isinstance(obj, dict):
        return False
    std = obj.get("standard") or obj.get("$standard")
    if isinstance(std, dict) and text(std.get("name")).lower() == "ninjs":
        return True
    return bool(text(obj.get("uri"))) and any(k in obj for k in _NINJS_MARKERS)


def parse(doc: dict[str, Any] | list[Any]) -> ParsedFeed:
    """The text stories of a ninjs document (1.x or 2.x), each once, with those associated to them."""
    tops = doc if isinstance(doc, list) else [doc]
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    major = "2"
    for top in tops:
        if not isinstance(top, dict):
            continue
        if "headline" in top or "body_text" in top or "description_text" in top or "subject" in top:
            major = "1"
        for obj in _ninjs_stories(top, depth=0, top=True):
            uri = text(obj.get("uri"))
            if uri and uri in seen:
                continue
            seen.add(uri)
            entries.append(_entry(obj))
    return ParsedFeed("", "", tuple(entries), format=f"ninjs{major}")


def _ninjs_stories(obj: dict[str, Any], *, depth: int, top: bool) -> list[dict[str, Any]]:
    """The object itself when it is a story, then its associated text stories (pictures of a story are not news)."""
    kind = text(obj.get("type")).lower()
    has_text = bool(_ninjs_headline(obj) or _suffixed(obj, "body")[0] or _role_value(obj.get("bodies"), ())[0])
    found: list[dict[str, Any]] = [obj] if kind == "text" or (top and kind != "composite" and has_text) else []
    assoc = obj.get("associations")
    children = assoc.values() if isinstance(assoc, dict) else assoc if isinstance(assoc, list) else []
    if depth < _MAX_DEPTH:
        for child in children:
            if isinstance(child, dict) and text(child.get("type")).lower() in ("text", "composite"):
                found.extend(_ninjs_stories(child, depth=depth + 1, top=False))
    if not found and top and has_text:  # a package with only pictures attached is still one story
        found.append(obj)
    return found


def _role_value(blocks: object, preferred: tuple[str, ...]) -> tuple[str, str]:
    """Value and content type of the block whose role is preferred (else the first) in a ninjs 2.x array."""
    if not isinstance(blocks, list):
        return "", ""
    usable = [b for b in blocks if isinstance(b, dict) and text(b.get("value"))]
    if not usable:
        return "", ""

    def rank(b: dict[str, Any]) -> int:
        role = text(b.get("role")).lower().rsplit(":", 1)[-1]
        return preferred.index(role) if role in preferred else len(preferred)

    best = min(usable, key=rank)
    return text(best.get("value")), text(best.get("contenttype")).lower()


def _suffixed(obj: dict[str, Any], prefix: str) -> tuple[str, str]:
    """A ninjs 1.x `prefix_text` / `prefix_html` / `prefix_*` value, plain text preferred."""
    for key, mime in ((f"{prefix}_text", PLAIN), (f"{prefix}_html", HTML)):
        if text(obj.get(key)):
            return text(obj.get(key)), mime
    for key, value in obj.items():
        if isinstance(key, str) and key.startswith(f"{prefix}_") and text(value):
            return text(value), HTML if "html" in key or "xhtml" in key else PLAIN
    return "", ""


def _ninjs_headline(obj: dict[str, Any]) -> str:
    return _role_value(obj.get("headlines"), ("main", "headline", ""))[0] or text(obj.get("headline"))


def _mime(contenttype: str, fallback: str) -> str:
    if not contenttype:
        return fallback
    return HTML if "html" in contenttype or "xml" in contenttype else PLAIN


def _entry(obj: dict[str, Any]) -> ParsedEntry:
    desc, desc_type = _role_value(obj.get("descriptions"), ("summary", "abstract", "", "caption"))
    desc_type = _mime(desc_type, PLAIN)
    if not desc:
        desc, desc_type = _suffixed(obj, "description")
    body, body_type = _role_value(obj.get("bodies"), ("main", "body", ""))
    body_type = _mime(body_type, HTML)
    if not body:
        body, body_type = _suffixed(obj, "body")
    places = [text(obj.get("located"))]
    subjects: list[str] = []
    tags: list[str] = []
    for p in [*_dicts(obj.get("places")), *_dicts(obj.get("place"))]:
        places.append(text(p.get("name")) or text(p.get("literal")))
    for s in [*_dicts(obj.get("subjects")), *_dicts(obj.get("subject"))]:
        scheme, code = text(s.get("scheme")), text(s.get("code"))
        uri = text(s.get("uri")) or (scheme + code if scheme and code else "")
        subjects.append(qcode(uri) if uri else text(s.get("literal")) or code)
        tags.append(text(s.get("name")))
    uri = text(obj.get("uri"))
    return wire_entry(
        guid=uri,
        title=_ninjs_headline(obj) or text(obj.get("title")) or text(obj.get("slugline")),
        summary=desc,
        summary_html=desc_type == HTML,
        body=body,
        body_html=body_type == HTML,
        published=obj.get("firstcreated") or obj.get("versioncreated"),
        updated=obj.get("versioncreated"),
        author=text(obj.get("by")) or text(obj.get("byline")),
        language=text(obj.get("language")),
        tags=tags,
        places=places,
        subjects=subjects,
    )


def _dicts(v: object) -> list[dict[str, Any]]:
    return [d for d in v if isinstance(d, dict)] if isinstance(v, list) else []
