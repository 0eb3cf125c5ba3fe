"""Feeds served over real HTTP flow into the real `news.raw`: once per item, across restarts, despite bad feeds."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.stage import run_ingestion
from monitor.messages import RawItem, decode
from monitor.settings import Settings
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic
from tests.support.waiting import wait_for


async def run_until(
    settings: Settings, feeds: list[FeedConfig], done: Callable[[], bool], linger_s: float = 0.0
) -> None:
    """Run ingestion until `done()` holds; joining the registry group takes a variable second or two."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingestion(settings, feeds, stop))
    await wait_for(lambda: done() or task.done())
    await asyncio.sleep(linger_s)
    stop.set()
    await asyncio.wait_for(task, 30)


def items(n: int, start: int = 0, prefix: str = "s") -> list[tuple[str, str, str]]:
    return [(f"{prefix}-{i}", f"Story {prefix} {i}", f"Summary of story {i}.") for i in range(start, start + n)]


async def raw_items(settings: Settings, expect: int | None = None) -> list[RawItem]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=expect)
    return [decode(RawItem, r.value) for r in recs]


async def test_item_seen_on_many_polls_is_produced_once_also_across_restart(
    settings: Settings, feed_server: FeedServer
) -> None:
    url = feed_server.set("/a.xml", rss(items(3)))
    feeds = [FeedConfig(id="a", url=url, name="A", interval_s=0.2, tier="wire")]
    await run_until(settings, feeds, lambda: feed_server.hits.get("/a.xml", 0) >= 3)
    assert feed_server.hits["/a.xml"] >= 3, "the feed should have been polled several times"
    first = await raw_items(settings, expect=3)
    assert sorted(i.title for i in first) == ["Story s 0", "Story s 1", "Story s 2"]
    # The feed's tier went through the feed registry to the poller, and travels on each item.
    assert {i.tier for i in first} == {"wire"}

    # A restart with one story added: only the new story is produced.
    feed_server.set("/a.xml", rss(items(4)))
    hits_before = feed_server.hits["/a.xml"]
    await run_until(settings, feeds, lambda: feed_server.hits["/a.xml"] >= hits_before + 3)
    assert feed_server.hits["/a.xml"] >= hits_before + 3
    after = await raw_items(settings, expect=4)
    assert len(after) == 4, [i.title for i in after]
    assert len({i.id for i in after}) == 4
    assert {i.title for i in after} == {f"Story s {n}" for n in range(4)}


async def test_changed_story_is_produced_again_as_update(settings: Settings, feed_server: FeedServer) -> None:
    url = feed_server.set("/u.xml", rss([("g1", "Shelling reported near border", "Early reports.")]))
    feeds = [FeedConfig(id="u", url=url, interval_s=0.2)]
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingestion(settings, feeds, stop))
    await raw_items(settings, expect=1)
    feed_server.set("/u.xml", rss([("g1", "Shelling kills two near border", "Officials confirm casualties.")]))
    got = await raw_items(settings, expect=2)
    stop.set()
    await task
    assert len(got) == 2
    assert got[0].id == got[1].id
    assert [g.update for g in got] == [False, True]
    assert got[1].title == "Shelling kills two near border"
    # The feed names no language: the poller detected it for the story and for its update.
    assert [(g.lang, g.lang_detected) for g in got] == [("en", True), ("en", True)]


async def test_a_feed_that_is_down_does_not_stop_the_others(settings: Settings, feed_server: FeedServer) -> None:
    good = feed_server.set("/good.xml", rss(items(2, prefix="good")))
    broken = feed_server.set("/broken.xml", b"oops", status=500)
    html = feed_server.set("/html.xml", b"<!doctype html><html><body>Not a feed</body></html>",
                           headers={"Content-Type": "text/html"})  # fmt: skip
    slow = feed_server.set("/slow.xml", rss(items(1, prefix="slow")), delay_s=30)
    feeds = [
        FeedConfig(id="good", url=good, interval_s=0.2),
        FeedConfig(id="broken", url=broken, interval_s=0.2),
        FeedConfig(id="html", url=html, interval_s=0.2),
        FeedConfig(id="slow", url=slow, interval_s=0.2),
        FeedConfig(id="refused", url="http://127.0.0.1:9/feed.xml", interval_s=0.2),
    ]
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingestion(settings.model_copy(), feeds, stop))
    first = await raw_items(settings, expect=2)
    # The good feed keeps its schedule while the others fail: a story added later still arrives.
    feed_server.set("/good.xml", rss(items(3, prefix="good")))
    later = await raw_items(settings, expect=3)
    stop.set()
    await asyncio.wait_for(task, 40)
    assert {i.title for i in first} == {"Story good 0", "Story good 1"}
    assert {i.title for i in later} == {"Story good 0", "Story good 1", "Story good 2"}
    assert feed_server.hits["/broken.xml"] >= 1 and feed_server.hits["/html.xml"] >= 1


async def test_feed_errors_are_recorded_with_their_class(settings: Settings, feed_server: FeedServer) -> None:
    html = feed_server.set("/page.xml", b"<!DOCTYPE html><html><head><title>x</title></head></html>",
                           headers={"Content-Type": "text/html"})  # fmt: skip
    gone = feed_server.set("/gone.xml", b"", status=503, headers={"Retry-After": "120"})
    feeds = [FeedConfig(id="page", url=html, interval_s=0.2), FeedConfig(id="gone", url=gone, interval_s=0.2)]
    hits = feed_server.hits
    both_polled = lambda: hits.get("/page.xml", 0) >= 1 and hits.get("/gone.xml", 0) >= 1  # noqa: E731
    await run_until(settings, feeds, both_polled, linger_s=1.0)
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, idle_s=0.5)
    latest = {r.key.decode(): json.loads(r.value) for r in recs}
    assert latest["page"]["last_error_kind"] == "not_a_feed"
    assert latest["gone"]["last_error_kind"] == "http_status"
    assert "503" in latest["gone"]["last_error"]
    # Retry-After: 120 s (capped by max_backoff 2 s here) means one attempt in the next second, not one per interval.
    assert feed_server.hits["/gone.xml"] == 1
