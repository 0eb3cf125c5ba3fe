"""What the wire formats (JSON Feed, ninjs, NewsML-G2) share: reading loose values, timestamps, subject codes, and
building the typed entry."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from monitor.ingest.formats.entry import ParsedEntry, bounded

_MAX_SUBJECTS = 50
_MAX_PLACES = 20
# Well-known IPTC vocabularies, so `http://cv.iptc.org/newscodes/mediatopic/11000000` and `medtop:11000000` agree.
_IPTC_SCHEMES = {
    "http://cv.iptc.org/newscodes/mediatopic/": "medtop",
    "http://cv.iptc.org/newscodes/subjectcode/": "subj",
    "http://cv.iptc.org/newscodes/genre/": "genre",
    "http://cv.iptc.org/newscodes/ninature/": "ninat",
}


def text(v: object) -> str:
    """A string or number as stripped text; anything else is empty."""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return ""


def when(value: object) -> datetime | None:
    """A wire timestamp (ISO 8601 or RFC 822) in UTC to the second; a zone-less one is taken as UTC."""
    raw = text(value)
    if not raw:
        return None
    dt: datetime | None
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        try:
            dt = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            dt = None
    if dt is None:
        return None
    try:
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        return None


def qcode(uri_or_code: str) -> str:
    """A subject code in its short form: IPTC vocabulary URIs become `alias:code`, anything else stays as given."""
    for prefix, alias in _IPTC_SCHEMES.items():
        if uri_or_code.startswith(prefix) and len(uri_or_code) > len(prefix):
            return f"{alias}:{uri_or_code[len(prefix) :].strip('/')}"
    return uri_or_code


def _unique(values: list[str], limit: int) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))[:limit]


def wire_entry(
    *,
    guid: str,
    title: str,
    summary: str = "",
    summary_html: bool = False,
    body: str = "",
    body_html: bool = False,
    link: str = "",
    published: object = None,
    updated: object = None,
    author: str = "",
    language: str = "",
    tags: list[str] | None = None,
    places: list[str] | None = None,
    subjects: list[str] | None = None,
) -> ParsedEntry:
    """A typed entry from a wire story: plain-text title, summary else body, dates from their wire strings."""
    summary, body = _nonblank(summary), _nonblank(body)
    modified = when(updated)
    return ParsedEntry(
        guid=bounded(guid),
        link=bounded(link),
        title=_nonblank(title),
        summary=summary or body,
        summary_html=summary_html if summary else body_html if body else False,
        published=when(published) or modified,
        updated=modified,
        author=bounded(author),
        language=bounded(language),
        tags=_unique(tags or [], _MAX_SUBJECTS),
        places=_unique(places or [], _MAX_PLACES),
        subjects=_unique(subjects or [], _MAX_SUBJECTS),
    )


def _nonblank(value: str) -> str:
    cut = bounded(value)
    return cut if cut.strip() else ""
