"""Golden digests of what parsing and normalizing make of every corpus file and wire-format sample, so a change to
the parser or the normalizer that alters any item sent to news.raw shows up here. Regenerate with
`python -m tests.ingest.test_parse_golden` after a deliberate change of behaviour. The digests are computed with the
default parser choice (auto), and every document the fast parser takes must also digest alike under feedparser."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from monitor.ingest.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.formats import fast
from monitor.ingest.normalize import newest_entries, normalize_entries
from monitor.ingest.parser import ParserChoice, parse_feed, sniff
from tests.ingest import test_wire_formats
from tests.ingest.test_feedparser_corpus import CORPUS, served_headers
from tests.support.environment import need

CORPORA = CORPUS.parents[1]  # ../shared/corpus, one folder per corpus

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "parse_golden.json"
NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
URL = "https://golden.example/feed"
FEED = FeedConfig(id="g", url=URL, name="Golden", region="eu", categories=("world",))
_KEPT = 50  # entries kept per document, as a poller with a small max_items_per_feed would


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def digest(body: bytes, headers: dict[str, str], parser: ParserChoice = "auto") -> str:
    """The outcome of one document: its error kind, or its format, entry and item counts and a hash of its feed
    facts and of every normalized item (ids, titles, summaries, links, dates, languages and the rest)."""
    try:
        parsed = parse_feed(body, headers, URL, parser)
    except FeedError as exc:
        return f"error {exc.kind.value}"
    kept = replace(parsed, entries=tuple(newest_entries(parsed.entries, _KEPT)))
    items, empty = normalize_entries(
        kept,
        FEED,
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


def _documents() -> dict[str, tuple[bytes, dict[str, str]]]:
    """Every wire sample and every file of every corpus under ../shared/corpus, with the headers it is served with."""
    docs = {f"wire/{k}": (v, _wire_headers(v)) for k, v in wire_samples().items()}
    for path in sorted(p for p in CORPORA.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        docs[f"corpus/{path.relative_to(CORPORA).as_posix()}"] = (raw, served_headers(path, raw))
    return docs


def _fast_takes(body: bytes, headers: dict[str, str]) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    return sniff(body, lowered.get("content-type", "")) == "feed" and fast.parse(body, lowered, URL) is not None


def test_auto_makes_the_same_items_as_feedparser_on_every_corpus() -> None:
    need(CORPORA.is_dir(), f"corpora not found at {CORPORA} (they live beside the project, not in it)")
    taken = {k: doc for k, doc in _documents().items() if _fast_takes(*doc)}
    differing = sorted(k for k, (body, hdrs) in taken.items() if digest(body, hdrs, "feedparser") != digest(body, hdrs))
    print(f"fast parser took {len(taken)} documents")
    assert not differing, f"{len(differing)} documents read differently by the fast path, e.g. {differing[:5]}"
    # Not vacuous: the common shapes (plain RSS 2.0, Atom and RDF files) do take the fast path.
    assert len(taken) >= 400


def test_the_fast_path_leaves_what_it_may_misread_to_feedparser() -> None:
    """Ill-formed XML, an undeclared prefix, an unknown element or format, base64 content: feedparser reads them."""
    rss = b'<rss version="2.0"><channel><title>T</title><item><title>A</title><link>https://x.example/1</link>%s' \
          b"</item></channel></rss>"  # fmt: skip
    assert _fast_takes(rss % b"", {})
    for unsure in (
        b"<b>",
        b"<dc:creator>x</dc:creator>",
        b"<fullitem>x</fullitem>",
        b"<description>\xc2\x92</description>",
    ):
        assert not _fast_takes(rss % unsure, {}), unsure
    assert not _fast_takes(rss.replace(b'"2.0"', b'"0.93"') % b"", {})
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>A</title><content type="text" mode="base64">' \
           b"QQ==</content></entry></feed>"  # fmt: skip
    assert not _fast_takes(atom, {})
    assert not _fast_takes(rss % b"", {"Content-Type": "text/html"})  # feedparser would warn about the type


def test_the_parser_setting_picks_the_parser() -> None:
    """A Windows-1252 quote mark sent as a C1 control: feedparser repairs it, the fast parser keeps the control."""
    item = b"<item><title>T</title><description>don\xc2\x92t</description></item>"
    body = b'<rss version="2.0"><channel>' + item + b"</channel></rss>"
    summaries = {
        choice: parse_feed(body, {}, URL, choice).entries[0].summary for choice in ("auto", "fast", "feedparser")
    }
    assert summaries == {"auto": "don\u2019t", "fast": "don\x92t", "feedparser": "don\u2019t"}
    assert not _fast_takes(b"https://x.example/feed.xml", {})  # never a body the fast parser would take for a URL


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(corpus=True), indent=0, sort_keys=True, ensure_ascii=False) + "\n")
