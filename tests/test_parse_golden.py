"""Golden digests of what parsing and normalizing make of every corpus file and wire-format sample, so a change to
the parser or the normalizer that alters any item sent to news.raw shows up here. Regenerate with
`python -m tests.test_parse_golden` after a deliberate change of behaviour."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from monitor.ingest.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.normalize import newest_entries, normalize_entries
from monitor.ingest.parser import parse_feed
from tests import test_wire_formats
from tests.support.environment import need
from tests.test_feedparser_corpus import CORPUS, served_headers

GOLDEN = Path(__file__).parent / "fixtures" / "parse_golden.json"
NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
URL = "https://golden.example/feed"
FEED = FeedConfig(id="g", url=URL, name="Golden", region="eu", categories=("world",))
_KEPT = 50  # entries kept per document, as a poller with a small max_items_per_feed would


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def digest(body: bytes, headers: dict[str, str]) -> str:
    """The outcome of one document: its error kind, or its format, entry and item counts and a hash of its feed
    facts and of every normalized item (ids, titles, summaries, links, dates, languages and the rest)."""
    try:
        parsed = parse_feed(body, headers, URL)
    except FeedError as exc:
        return f"error {exc.kind.value}"
    entries = newest_entries(parsed.entries, _KEPT)
    items, empty = normalize_entries(
        entries,
        FEED,
        feed_lang=parsed.lang,
        feed_title=parsed.title,
        feed_format=parsed.format,
        fetched_at=NOW,
        backfill_before=NOW,
    )
    dumps = [i.model_dump(mode="json") for i in items]
    facts = [parsed.title, parsed.lang, parsed.warning]
    return f"{parsed.format or '-'} {len(parsed.entries)} {empty} {len(items)} {_hash([facts, dumps])}"


def wire_samples() -> dict[str, bytes]:
    """The documents the wire-format tests define at module level, by name."""
    docs = {k: _encoded(v) for k, v in vars(test_wire_formats).items() if k.isupper()}
    docs["NEWS_MESSAGE"] = test_wire_formats.news_message(docs["NEWS_ITEM"], docs["NEWS_ITEM"].replace(b"1", b"2"))
    return {k: v for k, v in docs.items() if v.lstrip()[:1] in (b"<", b"{", b"[")}


def _encoded(value: object) -> bytes:
    if isinstance(value, (dict, list)):
        return json.dumps(value).encode()
    return value.encode() if isinstance(value, str) else value if isinstance(value, bytes) else b""


def _wire_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json" if body.lstrip()[:1] in (b"{", b"[") else "application/xml"}


def compute(corpus: bool) -> dict[str, str]:
    """Digests of the wire samples and, when `corpus`, of every corpus file, keyed by a stable name."""
    out = {f"wire/{k}": digest(v, _wire_headers(v)) for k, v in sorted(wire_samples().items())}
    if corpus:
        for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
            raw = path.read_bytes()
            out[f"corpus/{path.relative_to(CORPUS).as_posix()}"] = digest(raw, served_headers(path, raw))
    return out


def test_wire_samples_match_golden() -> None:
    golden = json.loads(GOLDEN.read_text())
    got = compute(corpus=False)
    assert len(got) >= 5, "the wire-format samples were not found"
    assert {k: v for k, v in golden.items() if k.startswith("wire/")} == got


def test_corpus_matches_golden() -> None:
    need(CORPUS.is_dir(), f"feedparser corpus not found at {CORPUS} (it lives beside the project, not in it)")
    golden = json.loads(GOLDEN.read_text())
    got = {k: v for k, v in compute(corpus=True).items() if k.startswith("corpus/")}
    want = {k: v for k, v in golden.items() if k.startswith("corpus/")}
    differing = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    assert not differing, f"{len(differing)} corpus files changed, e.g. {differing[:5]}"


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(corpus=True), indent=0, sort_keys=True, ensure_ascii=False) + "\n")
