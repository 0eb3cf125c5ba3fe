"""Parsing in worker processes: same result as in-process parsing, errors keep their kind, crashes stay contained."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from monitor.ingest import parsepool
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats import fast
from monitor.ingest.formats.entry import MAX_FIELD_CHARS
from monitor.ingest.parser import ParserChoice, parse_feed
from tests.support.feeds import rss

REPO = Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:1/feed.xml"
HEADERS = {"Content-Type": "application/rss+xml; charset=utf-8"}
BODY = rss(
    [
        ("g-1", "Drone crosses the border near Przemyśl", "<p>Guards said &amp; confirmed it.</p>"),
        ("g-2", "Runoff date set", "The commission set the date."),
    ]
)


# A real feed that keeps feedparser busy far longer than the timeouts below: 10,000 items, 10 to 20 s of CPU. The
# fast parser reads it in a fifth of a second, so it is parsed with feedparser.
SLOW = rss([(f"s-{i}", f"Story {i}", "Text.") for i in range(10_000)])


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    parsepool.shutdown()
    yield
    parsepool.shutdown()


def _workers_of(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children() if "spawn_main" in " ".join(c.cmdline())]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("workers", [0, 1])
async def test_parses_like_parse_feed(workers: int) -> None:
    direct = parse_feed(BODY, HEADERS, URL)
    pooled = await parsepool.parse(BODY, HEADERS, URL, workers=workers, timeout_s=30)
    assert pooled.format == direct.format == "rss20"
    assert pooled.entries == direct.entries and pooled.entries[0].published is not None
    assert len(_workers_of(os.getpid())) == workers


@pytest.mark.parametrize("workers", [0, 1])
async def test_the_parser_choice_reaches_the_parse(workers: int) -> None:
    """A C1 control in a description: feedparser repairs it (auto leaves the feed to it); the fast parser keeps it."""
    body = rss([("c1-1", "Quote", "don\x92t")])
    auto = await parsepool.parse(body, HEADERS, URL, workers=workers, timeout_s=30)
    fast = await parsepool.parse(body, HEADERS, URL, workers=workers, timeout_s=30, parser="fast")
    assert (auto.entries[0].summary, fast.entries[0].summary) == ("don\u2019t", "don\x92t")


@pytest.mark.parametrize("workers", [0, 1])
async def test_a_feed_the_fast_path_reads_is_parsed_in_the_poller(workers: int) -> None:
    """No worker process or parse thread for it, and the same entries as parse_feed gives."""
    parsed = await parsepool.parse(BODY, HEADERS, URL, workers=workers, timeout_s=30, inline_max_bytes=len(BODY))
    assert parsed == parse_feed(BODY, HEADERS, URL)
    assert _workers_of(os.getpid()) == [] and _parse_threads() == []


@pytest.mark.parametrize(
    ("body", "parser", "inline_max_bytes"),
    [
        (rss([("c1-1", "Quote", "don\x92t")]), "auto", 1 << 20),  # auto leaves a C1 control to feedparser
        (BODY, "feedparser", 1 << 20),
        (BODY, "auto", len(BODY) - 1),  # larger than the poller parses itself
    ],
)
async def test_other_feeds_still_go_to_the_workers(body: bytes, parser: ParserChoice, inline_max_bytes: int) -> None:
    parsed = await parsepool.parse(
        body, HEADERS, URL, workers=1, timeout_s=30, parser=parser, inline_max_bytes=inline_max_bytes
    )
    assert parsed == parse_feed(body, HEADERS, URL, parser)
    assert len(_workers_of(os.getpid())) == 1


async def test_a_feed_the_poller_left_to_feedparser_is_not_tried_on_the_fast_path_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[bytes] = []
    read = fast.parse
    monkeypatch.setattr(fast, "parse", lambda body, *a, **kw: tried.append(body) or read(body, *a, **kw))
    body = rss([("c1-1", "Quote", "don\x92t")])  # auto leaves a C1 control to feedparser
    parsed = await parsepool.parse(body, HEADERS, URL, workers=0, timeout_s=30, inline_max_bytes=1 << 20)
    assert parsed == parse_feed(body, HEADERS, URL, "feedparser")
    assert tried == [body]


async def test_entry_text_is_bounded_before_it_leaves_the_parser() -> None:
    long_text = "A long dispatch. " * 30_000  # 510,000 characters
    body = rss([("long-1", "Long read " * 100_000, long_text)])
    parsed = await parsepool.parse(body, HEADERS, URL, workers=1, timeout_s=60)
    (entry,) = parsed.entries
    assert len(entry.title) == len(entry.summary) == MAX_FIELD_CHARS
    assert entry.summary == long_text[:MAX_FIELD_CHARS]


def _parse_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == parsepool.THREAD_NAME]


@pytest.mark.parametrize("workers", [0, 1])
async def test_a_parse_out_of_time_fails_as_a_parse_error_and_frees_its_parser(workers: int) -> None:
    await parsepool.parse(BODY, HEADERS, URL, workers=workers, timeout_s=60)  # the pool is up
    started = time.monotonic()
    with pytest.raises(FeedError) as err:
        await parsepool.parse(SLOW, HEADERS, URL, workers=workers, timeout_s=0.5, parser="feedparser")
    print(f"workers={workers}: slow feed failed after {time.monotonic() - started:.2f} s")
    assert err.value.kind is ErrorKind.PARSE and "longer than 0.5 s" in str(err.value)
    assert time.monotonic() - started < 3.0
    # The runaway parse stopped: the next feed is parsed at once, not behind it.
    started = time.monotonic()
    parsed = await parsepool.parse(BODY, HEADERS, URL, workers=workers, timeout_s=60)
    print(f"workers={workers}: next feed parsed after {time.monotonic() - started:.2f} s")
    assert [e.guid for e in parsed.entries] == ["g-1", "g-2"]
    assert time.monotonic() - started < 3.0
    deadline = time.monotonic() + 3.0
    while _parse_threads():
        assert time.monotonic() < deadline, "the interrupted parse thread kept running"
        await asyncio.sleep(0.05)


async def test_feed_errors_keep_their_kind() -> None:
    with pytest.raises(FeedError) as err:
        await parsepool.parse(b"<!doctype html><html><body>Login</body></html>", {}, URL, workers=1, timeout_s=30)
    assert err.value.kind is ErrorKind.NOT_A_FEED
    assert "HTML page" in str(err.value)


async def test_a_killed_worker_fails_one_parse_then_a_fresh_pool_takes_over() -> None:
    await parsepool.parse(BODY, HEADERS, URL, workers=1, timeout_s=30)
    (worker,) = _workers_of(os.getpid())
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    with pytest.raises(FeedError) as err:
        await parsepool.parse(BODY, HEADERS, URL, workers=1, timeout_s=30)
    assert err.value.kind is ErrorKind.PARSE
    parsed = await parsepool.parse(BODY, HEADERS, URL, workers=1, timeout_s=30)
    assert [e.guid for e in parsed.entries] == ["g-1", "g-2"]
    (replacement,) = _workers_of(os.getpid())
    assert replacement.pid != worker.pid


def test_workers_exit_when_the_poller_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "poller.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, psutil
            from monitor.ingest import parsepool

            async def main():
                await parsepool.parse({BODY!r}, {{}}, "{URL}", workers=1, timeout_s=30)
                kids = [c.pid for c in psutil.Process().children() if "spawn_main" in " ".join(c.cmdline())]
                print("workers:", *kids, flush=True)
                await asyncio.sleep(120)

            if __name__ == "__main__":
                asyncio.run(main())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = ""
        while not line.startswith("workers:"):
            line = proc.stdout.readline()
            assert line, "the poller script ended without starting a worker"
        workers = [int(p) for p in line.split()[1:]]
        assert len(workers) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_running(p) for p in workers):
            assert time.monotonic() < deadline, "parse workers outlived their killed poller"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
