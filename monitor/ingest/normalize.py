"""Feed entries to normalized items: stable ids, canonical URLs, plain text, UTC dates."""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.ingest.feeds import FeedConfig
from monitor.messages import RawItem

_TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_hsenc",
                    "_hsmi", "ocid", "cmpid", "icid", "xtor", "ito", "smid", "ref_src"}  # fmt: skip
_WS = re.compile(r"\s+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Publishers' clocks and time zones are often wrong by minutes; beyond this a date is treated as bogus.
_FUTURE_TOLERANCE = timedelta(minutes=15)


def canonical_url(url: str) -> str:
    """Lowercase scheme and host, no default port, no fragment, no tracking parameters."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), ""))


def html_to_text(value: str, max_chars: int | None = None) -> str:
    """Plain text of an HTML fragment: entities decoded, scripts and styles dropped, whitespace collapsed."""
    if not value:
        return ""
    if "<" in value or "&" in value:
        tree = LexborHTMLParser(value)
        for node in tree.css("script, style, noscript, template"):
            node.decompose()
        root = tree.body or tree.root
        value = root.text(separator=" ") if root is not None else ""
    text = _WS.sub(" ", value).strip()
    if max_chars is not None and len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars - 1)
        text = text[: cut if cut > max_chars // 2 else max_chars - 1].rstrip() + "…"
    return text


def _hash(*parts: str, n: int = 32) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:n]


def content_hash(title: str, summary: str) -> str:
    return _hash(title.casefold(), summary.casefold(), n=16)


def _is_url(v: str) -> bool:
    return v.startswith(("http://", "https://"))


def _entry_date(entry: dict[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            try:
                return datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _text(entry: dict[str, Any], *keys: str) -> str:
    for k in keys:
        v = entry.get(k)
        if isinstance(v, str) and v.strip():
            return v
        if isinstance(v, list) and v and isinstance(v[0], dict) and v[0].get("value"):
            return str(v[0]["value"])
    return ""


def normalize_entries(
    entries: list[dict[str, Any]],
    feed: FeedConfig,
    *,
    feed_lang: str,
    fetched_at: datetime,
    backfill_before: datetime | None,
    title_max: int = 500,
    summary_max: int = 2000,
) -> tuple[list[RawItem], int]:
    """Normalize one fetch's entries; return the items and how many entries had nothing to identify.

    On a feed's first poll `backfill_before` is set: stories published before it (or undated) are its backlog.
    """
    guid_counts = Counter(str(e.get("id") or "").strip() for e in entries)
    items: list[RawItem] = []
    empty = 0
    seen_ids: set[str] = set()
    for entry in entries:
        title = html_to_text(_text(entry, "title"), title_max)
        summary = html_to_text(_text(entry, "summary", "description", "content"), summary_max)
        link = str(entry.get("link") or "").strip()
        guid = str(entry.get("id") or "").strip()
        if not title and not summary and not link:
            empty += 1
            continue
        if not title:
            title = html_to_text(summary, 120) or link
        # Some publishers reuse one guid for many stories; then the guid identifies nothing.
        guid_usable = bool(guid) and guid_counts[guid] == 1
        if guid_usable and _is_url(guid):
            basis = "u|" + canonical_url(guid)
        elif guid_usable:
            basis = f"g|{feed.id}|{guid}"
        elif link:
            basis = "u|" + canonical_url(link)
        else:
            basis = f"c|{feed.id}|{content_hash(title, summary)}"
        item_id = _hash(basis)
        if item_id in seen_ids:  # the same link listed twice with different text: keep both stories
            item_id = _hash(basis, content_hash(title, summary))
            if item_id in seen_ids:
                continue  # an exact repeat within one document
        seen_ids.add(item_id)
        published = _entry_date(entry)
        estimated = published is None
        if published is None or published > fetched_at + _FUTURE_TOLERANCE:
            published = fetched_at
            estimated = True
        tags = [str(t.get("term") or t.get("label") or "") for t in entry.get("tags", []) or []]
        categories = list(dict.fromkeys([*feed.categories, *(t for t in tags if t)]))
        items.append(
            RawItem(
                id=item_id,
                feed_id=feed.id,
                feed_url=feed.url,
                source=feed.name,
                url=canonical_url(link) if link else (canonical_url(guid) if _is_url(guid) else ""),
                title=title,
                summary=summary,
                published=published,
                fetched_at=fetched_at,
                published_estimated=estimated,
                lang=(feed.lang or feed_lang or "").split("-")[0].lower()[:8],
                categories=categories[:20],
                author=html_to_text(str(entry.get("author") or ""), 200),
                guid=guid[:1000],
                content_hash=content_hash(title, summary),
                backfill=backfill_before is not None and (estimated or published < backfill_before),
            )
        )
    return items, empty
