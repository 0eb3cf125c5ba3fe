"""Feed entries to normalized items: stable ids, canonical URLs, plain text, UTC dates."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Required, TypedDict, Unpack
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.formats.entry import ParsedEntry, ParsedFeed
from monitor.messages import RawItem

_TRACKING_PARAMS = {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_hsenc",
                    "_hsmi", "ocid", "cmpid", "icid", "xtor", "ito", "smid", "ref_src"}  # fmt: skip
_WS = re.compile(r"\s+")
# C0 and C1 controls other than whitespace: escape sequences in a title must never reach an operator's terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Longer links are dropped rather than cut: a cut URL leads somewhere else. The story keeps its id either way.
URL_MAX_CHARS = 2048
# Text beyond this many times a field's limit is never looked at: markup may pad text, but not without end.
_PRECUT_FACTOR = 20
_BLOCK_TAGS = ("p, div, br, li, ul, ol, h1, h2, h3, h4, h5, h6, tr, td, th, table, blockquote, pre, section, article, "
               "header, footer, aside, figure, figcaption, dd, dt, hr")  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A URL that is canonical as it stands: lower-case scheme and host, no port, query, fragment, space or control.
_CANONICAL = re.compile(r"https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?:/[^\s?#\x00-\x1f\x7f-\x9f]*)?")
# Publishers' clocks and time zones are often wrong by minutes; beyond this a date is treated as bogus.
_FUTURE_TOLERANCE = timedelta(minutes=15)


def canonical_url(url: str) -> str:
    """Lowercase scheme and host, no default port, no fragment, no tracking parameters.

    Anything that is not an http(s) URL with a host only loses its fragment and surrounding whitespace.
    """
    if _CANONICAL.fullmatch(url):  # most links already are, and splitting them costs more than all the rest
        return url if url.count("/") > 2 else url + "/"
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return url.split("#", 1)[0].strip()
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
        return urlunsplit((scheme, host, parts.path.strip() or "/", urlencode(query, doseq=True), ""))
    except (ValueError, UnicodeError):  # a bad port, bracket or lone surrogate: keep what was given, minus fragment
        return url.split("#", 1)[0].strip()


_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def strip_controls(text: str) -> str:
    """The text without control characters other than whitespace, safe to print on a terminal."""
    return _CONTROL.sub("", text)


def _precut(value: str, max_chars: int | None) -> str:
    return value if max_chars is None else value[: max(max_chars * _PRECUT_FACTOR, 4096)]


def html_to_text(value: str, max_chars: int | None = None) -> str:
    """Plain text of an HTML fragment: entities decoded, scripts and styles dropped, whitespace collapsed."""
    if not value:
        return ""
    value = _precut(value, max_chars)
    if "<" in value or "&" in value:
        tree = LexborHTMLParser(value)
        for node in tree.css("script, style, noscript, template"):
            node.decompose()
        # Inline tags must not split words ("Kyi<b>v</b>"); block ends must not glue them ("one</p><p>two").
        for node in tree.css(_BLOCK_TAGS):
            node.insert_after(" ")
        text = tree.body.text(separator="") if tree.body is not None else ""
        if not text.strip() and tree.root is not None:  # e.g. a lone <title>, which lands in <head>
            text = tree.root.text(separator=" ")
        if not text.strip():
            # What the HTML parser swallowed as a bogus declaration ("<!' ...") is text, not markup.
            text = _TAG.sub(" ", value)
        value = text
    return plain_text(value, max_chars)


def plain_text(value: str, max_chars: int | None = None) -> str:
    """Whitespace collapsed, control characters dropped, cut at a word boundary with an ellipsis; not parsed as HTML."""
    text = _WS.sub(" ", _CONTROL.sub("", _precut(value, max_chars))).strip()
    if max_chars is not None and len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars - 1)
        text = text[: cut if cut > max_chars // 2 else max_chars - 1].rstrip() + "…"
    return text


def _hash(*parts: str, n: int = 32) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:n]


def content_hash(title: str, summary: str) -> str:
    return _hash(title.casefold(), summary.casefold(), n=16)


def _is_url(v: str) -> bool:
    return v[:8].lower().startswith(("http://", "https://"))


def newest_entries(entries: Sequence[ParsedEntry], limit: int) -> Sequence[ParsedEntry]:
    """At most `limit` entries: the newest by date (undated ones count as newest), in document order."""
    if len(entries) <= limit:
        return entries
    latest = datetime.max.replace(tzinfo=UTC)
    ranked = sorted(range(len(entries)), key=lambda i: entries[i].published or latest, reverse=True)
    return [entries[i] for i in sorted(ranked[:limit])]


def _clean(text: str, is_html: bool, max_chars: int) -> str:
    return html_to_text(text, max_chars) if is_html else plain_text(text, max_chars)


def _lang(value: object) -> str:
    """ISO 639 code of a language tag (`en-GB`, `pt_BR`, `EN`); empty when it is not one."""
    code = str(value or "").strip().replace("_", "-").split("-")[0].lower()[:8]
    return code if code.isascii() and code.isalpha() else ""


def _strings(values: Sequence[str], limit: int, max_chars: int = 200) -> list[str]:
    # Repeats collapse, so look a little past the limit, but never through an endless list.
    texts = (plain_text(v, max_chars) for v in values[: limit * 4])
    return list(dict.fromkeys(t for t in texts if t))[:limit]


def _identifier(value: object, max_chars: int) -> str:
    return _CONTROL.sub("", str(value or "")[: max_chars * 2]).strip()[:max_chars]


@dataclass(frozen=True)
class _FeedFacts:
    """What every item of one document shares, cleaned once: source language, feed title and format."""

    lang: str
    title: str
    format: str


@dataclass(frozen=True)
class _Limits:
    title: int
    summary: int


@dataclass(frozen=True, slots=True)
class _Text:
    """An entry's cleaned title and summary; `derived` when the title was missing and made from the rest."""

    title: str
    summary: str
    derived: bool

    def digest(self) -> str:
        return content_hash(self.title, self.summary)


@dataclass
class _Draft:
    """One entry on its way to an item; its text is cleaned only when something needs it."""

    entry: ParsedEntry
    link: str
    guid: str
    basis: str = ""
    text: _Text | None = None

    def clean(self, limits: _Limits) -> _Text:
        """The cleaned title and summary, cleaned once; a missing title is derived from the summary or the link."""
        if self.text is None:
            entry = self.entry
            title = _clean(entry.title, entry.title_html, limits.title)
            summary = _clean(entry.summary, entry.summary_html, limits.summary)
            made = title or plain_text(summary, 120) or plain_text(self.link, limits.title)
            self.text = _Text(made, summary, not title)
        return self.text


@dataclass(frozen=True)
class Known:
    """What the previous polls of a feed left: its seen items, and prints of the entries they were read from."""

    seen: Mapping[str, str]
    prints: Container[int] = ()


@dataclass
class Listing:
    """What one document lists: every story's id and content hash, and items for the stories not known before."""

    listed: list[tuple[str, str]]
    new: list[RawItem]
    changed: list[RawItem]  # stories known with other content, flagged as updates
    empty: int  # entries with nothing to identify
    prints: list[int]  # one per listed story: its entry and content hash, so the next poll can skip it unread


def entry_print(entry: ParsedEntry, content_hash: str) -> int:
    """A print of an entry and the content hash it normalizes to; equal prints mean the entry need not be read."""
    return hash((entry, content_hash))


class NormalizeOptions(TypedDict, total=False):
    """The keyword options of `normalize_changes`, passed through by `normalize_entries`."""

    fetched_at: Required[datetime]
    backfill_before: Required[datetime | None]
    title_max: int
    summary_max: int


def normalize_entries(
    parsed: ParsedFeed, feed: FeedConfig, **options: Unpack[NormalizeOptions]
) -> tuple[list[RawItem], int]:
    """Normalize one fetch's entries; return the items and how many entries had nothing to identify.

    The options are `normalize_changes`' own; nothing is known of the feed, so every story gives an item.
    """
    listing = normalize_changes(parsed, feed, Known({}), **options)
    return listing.new, listing.empty


def normalize_changes(
    parsed: ParsedFeed,
    feed: FeedConfig,
    known: Known,
    *,
    fetched_at: datetime,
    backfill_before: datetime | None,
    title_max: int = 500,
    summary_max: int = 2000,
) -> Listing:
    """Normalize the entries of one fetch that are new or changed since `known`; the others are only identified.

    An entry whose print says it reads as the content hash its story has in `known` is not cleaned again: its
    items would be the same. Items are exactly those `normalize_entries` gives for the same stories. On a feed's
    first poll `backfill_before` is set: stories published before it (or undated) are its backlog. The document's
    own facts (language, title, format) are carried on each item.
    """
    limits = _Limits(title_max, summary_max)
    facts = _FeedFacts(
        _lang(feed.lang) or _lang(parsed.lang), html_to_text(parsed.title, 200), _identifier(parsed.format, 20)
    )
    drafts, empty = _drafts(parsed.entries, limits)
    _assign_bases(drafts, feed.id, limits)
    listing = Listing([], [], [], empty, [])
    ids: set[str] = set()
    for d in drafts:
        item_id = _hash(d.basis)
        if item_id in ids:
            continue  # an exact repeat within one document: the same story listed twice
        ids.add(item_id)
        before = known.seen.get(item_id)
        unchanged = 0 if before is None else entry_print(d.entry, before)  # hashed once: checked, then kept
        if before is not None and unchanged in known.prints:
            listing.listed.append((item_id, before))
            listing.prints.append(unchanged)
            continue
        text = d.clean(limits)
        digest = text.digest()
        listing.listed.append((item_id, digest))
        listing.prints.append(entry_print(d.entry, digest))
        if digest != before:
            item = _item(d, text, item_id, digest, feed, facts, fetched_at, backfill_before, update=before is not None)
            (listing.new if before is None else listing.changed).append(item)
    return listing


def _drafts(entries: Sequence[ParsedEntry], limits: _Limits) -> tuple[list[_Draft], int]:
    drafts: list[_Draft] = []
    empty = 0
    for entry in entries:
        # Whole for identity (hashed); bounded where they are kept.
        d = _Draft(entry, _CONTROL.sub("", entry.link).strip(), _CONTROL.sub("", entry.guid).strip())
        # An entry with a link always has something; without one, only its text can tell.
        if not d.link and not (text := d.clean(limits)).summary and text.derived:
            empty += 1
            continue
        drafts.append(d)
    return drafts, empty


def _assign_bases(drafts: list[_Draft], feed_id: str, limits: _Limits) -> None:
    """Identity of each story: permalink guid, else other guid, else canonical link, else content.

    A guid or link that the same document gives to several stories identifies none of them: those stories fall
    back to the link, and then to their content, so distinct stories never collapse into one id and the ids do not
    depend on the order of the entries.
    """
    guid_counts = Counter(d.guid for d in drafts if d.guid)
    for d in drafts:
        if d.guid and guid_counts[d.guid] == 1:
            d.basis = "u|" + canonical_url(d.guid) if _is_url(d.guid) else f"g|{feed_id}|{d.guid}"
        elif d.link:
            d.basis = "u|" + canonical_url(d.link)
    basis_counts = Counter(d.basis for d in drafts if d.basis)
    for d in drafts:
        if not d.basis or basis_counts[d.basis] > 1:
            shared = f"{d.basis}|" if d.basis else ""
            d.basis = f"c|{feed_id}|{shared}{d.clean(limits).digest()}"


def _item(
    d: _Draft,
    text: _Text,
    item_id: str,
    digest: str,
    feed: FeedConfig,
    facts: _FeedFacts,
    fetched_at: datetime,
    backfill_before: datetime | None,
    *,
    update: bool,
) -> RawItem:
    entry = d.entry
    published = entry.published
    estimated = published is None
    if published is None or published > fetched_at + _FUTURE_TOLERANCE:
        published = fetched_at
        estimated = True
    modified = entry.updated
    if modified is not None and modified > fetched_at + _FUTURE_TOLERANCE:
        modified = None
    url = d.link or (d.guid if _is_url(d.guid) else "")
    url = canonical_url(url) if url else ""
    return RawItem(
        id=item_id,
        feed_id=feed.id,
        feed_url=feed.url,
        source=feed.name,
        url=url if len(url) <= URL_MAX_CHARS else "",
        title=text.title,
        summary=text.summary,
        title_derived=text.derived,
        published=published,
        fetched_at=fetched_at,
        published_estimated=estimated,
        lang=_lang(entry.language) or facts.lang,
        categories=list(dict.fromkeys([*feed.categories, *_strings(entry.tags, 20)]))[:20],
        author=html_to_text(entry.author, 200),
        guid=_identifier(d.guid, 1000),
        content_hash=digest,
        backfill=backfill_before is not None and (estimated or published < backfill_before),
        feed_title=facts.title,
        feed_lang=facts.lang,
        region=feed.region,
        tier=feed.tier,
        feed_format=facts.format,
        modified=modified,
        places=_strings(entry.places, 20),
        subjects=_strings(entry.subjects, 50),
        update=update,
    )
