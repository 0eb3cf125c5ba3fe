"""Robustness: feedparser's own test corpus (about 2,100 well-formed and broken feeds) served over real HTTP with
the headers each file asks for, fetched with the real fetcher, parsed and normalized. Every file must end as
normalized items or as a classified FeedError: no other exception, no hang, no item without an id."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import feedparser
import pytest
from aiohttp import web

from monitor.ingest.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import fetch, make_session
from monitor.ingest.normalize import html_to_text, normalize_entries
from monitor.ingest.parser import parse_feed
from monitor.messages import RawItem, decode, encode, utcnow
from monitor.settings import IngestSettings
from tests.support.environment import need

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "feedparser" / "tests"
PER_FILE_TIMEOUT_S = 30.0
CONCURRENCY = 8
# Budget for the whole corpus on a shared 2-core machine.
MAX_TOTAL_S = 110.0
_HEADER = re.compile(r"^\s*Header:\s*([A-Za-z0-9-]+)\s*:\s*(.*?)\s*$", re.MULTILINE)
_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def _corpus_present() -> None:
    need(CORPUS.is_dir(), f"feedparser corpus not found at {CORPUS} (it lives beside the project, not in it)")


def leading_comment(raw: bytes) -> str:
    """The comment at the top of a corpus file, whatever the file's encoding."""
    head = raw[:8192]
    encodings = ("utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be") if b"\x00" in head else ()
    for enc in (*encodings, "latin-1"):
        text = head.decode(enc, errors="ignore")
        start = text.find("<!--")
        if start != -1:
            end = text.find("-->", start)
            return text[start : end if end != -1 else len(text)]
    return ""


def served_headers(path: Path, raw: bytes) -> dict[str, str]:
    """The HTTP headers a file's `Header:` lines name; a typical default content type when it names none."""
    headers = {name: value for name, value in _HEADER.findall(leading_comment(raw))}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json" if path.suffix == ".json" else "application/xml"
    return headers


@dataclass
class Outcome:
    with_items: int = 0
    empty_feeds: int = 0
    items: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _readable_stories(body: bytes, headers: dict[str, str], url: str) -> int:
    """How many distinct entries with some text or a link feedparser itself reads from the document."""
    hdrs = {k.lower(): v for k, v in headers.items() if k.lower() in ("content-type", "content-language")}
    result = feedparser.parse(body, response_headers={**hdrs, "content-location": url})
    keys = {
        (str(e.get("id")), str(e.get("link")), str(e.get("title")), str(e.get("summary")))
        for e in result.get("entries", [])
        if html_to_text(str(e.get("title", ""))) or e.get("link") or html_to_text(str(e.get("summary", "")))
    }
    return len(keys)


def _parse_and_normalize(body: bytes, headers: dict[str, str], url: str, feed: FeedConfig) -> list[RawItem]:
    readable = _readable_stories(body, headers, url)
    try:
        parsed = parse_feed(body, headers, url)
    except FeedError as exc:
        assert readable == 0, f"rejected ({exc}) although feedparser reads {readable} stories from it"
        raise
    items, empty = normalize_entries(
        parsed,
        feed,
        fetched_at=utcnow(),
        backfill_before=None,
    )
    keys = {(e.guid, e.link, e.title, e.summary) for e in parsed.entries}
    repeats = len(parsed.entries) - len(keys)
    # Nothing vanishes: every entry is an item, an entry with nothing in it, or a verbatim repeat.
    assert len(parsed.entries) - repeats <= len(items) + empty <= len(parsed.entries), (
        len(parsed.entries),
        len(items),
        empty,
    )
    assert len(items) >= readable, f"{readable} readable stories, {len(items)} items"
    for item in items:
        assert _ID.match(item.id), item.id
        assert decode(RawItem, encode(item)) == item
    return items


async def _one(session: aiohttp.ClientSession, s: IngestSettings, base: str, rel: str, out: Outcome) -> None:
    url = f"{base}/{rel}"
    feed = FeedConfig(id="corpus", url=url, name="corpus")
    try:
        result = await fetch(session, url, s)
        items = await asyncio.to_thread(_parse_and_normalize, result.body, result.headers, result.url, feed)
    except FeedError as exc:
        out.errors[exc.kind.value] += 1
        return
    if items:
        out.with_items += 1
        out.items += len(items)
    else:
        out.empty_feeds += 1


async def test_every_corpus_file_ends_as_items_or_a_classified_error() -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())
    assert len(files) > 2000, f"expected about 2,100 corpus files, found {len(files)}"
    routes: dict[str, tuple[bytes, dict[str, str]]] = {}
    for p in files:
        raw = p.read_bytes()
        routes["/" + p.relative_to(CORPUS).as_posix()] = (raw, served_headers(p, raw))

    async def handle(request: web.Request) -> web.Response:
        body, headers = routes[request.path]
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"

    s = IngestSettings(
        concurrency=CONCURRENCY,
        per_host=CONCURRENCY,
        total_timeout_s=20.0,
        read_timeout_s=15.0,
        allow_private_addresses=True,
    )
    out = Outcome()
    gate = asyncio.Semaphore(CONCURRENCY)
    started = time.monotonic()

    async def guarded(rel: str) -> None:
        async with gate:
            try:
                await asyncio.wait_for(_one(session, s, base, rel, out), PER_FILE_TIMEOUT_S)
            except TimeoutError:
                out.failures.append(f"{rel}: no outcome within {PER_FILE_TIMEOUT_S:.0f} s")
            except Exception as exc:  # anything but a FeedError is a bug: name the file
                out.failures.append(f"{rel}: {type(exc).__name__}: {exc!s:.300}")

    try:
        async with make_session(s) as session:
            await asyncio.gather(*(guarded(rel.lstrip("/")) for rel in routes))
    finally:
        await runner.cleanup()
    elapsed = time.monotonic() - started

    total = out.with_items + out.empty_feeds + sum(out.errors.values()) + len(out.failures)
    print(
        f"\nfeedparser corpus: {len(files)} files in {elapsed:.1f} s: {out.with_items} gave {out.items} items, "
        f"{out.empty_feeds} parsed with no entries, errors {dict(sorted(out.errors.items()))}, "
        f"{len(out.failures)} failures"
    )
    assert not out.failures, "\n".join(out.failures[:50])
    assert total == len(files)
    # Only documents can fail here: the server is local and serves every file with status 200.
    assert set(out.errors) <= {"parse", "not_a_feed"}, out.errors
    assert out.with_items > 500, "about 560 corpus files carry stories; far fewer means parsing regressed"
    assert elapsed < MAX_TOTAL_S, f"the corpus took {elapsed:.0f} s"
