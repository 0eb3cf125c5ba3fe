"""`newsmon feeds ...` against the real broker and a local feed server, and the registry's config-file sync."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.registry import read_registry, registration, sync_config
from monitor.ingest.stage import run_ingestion
from monitor.messages import RawItem, decode
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs
from tests.conftest import make_settings
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Env:
    settings: Settings
    config: Path


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture
async def env(kafka_bootstrap: str, tmp_path: Path) -> Env:
    """Settings with their own topics, registry and poller group, written to a file for the command line."""
    settings = make_settings(kafka_bootstrap, tmp_path)
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"topics": settings.topics.model_dump(), "metrics": {"port": 0},
                                      "ingest": {"group_id": settings.ingest.group_id,
                                                 "allow_private_addresses": True}}))  # fmt: skip
    return Env(settings, config)


async def newsmon(env: Env, *args: str) -> Result:
    """Run the real command line in its own process."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    child["NEWSMON_KAFKA_BOOTSTRAP"] = env.settings.kafka.bootstrap_servers
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "--settings", str(env.config), *args,
        cwd=REPO, env=child, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return Result(proc.returncode or 0, out.decode(), err.decode())


async def eventually(check: Callable[[], Any], timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true within {timeout_s}s: {check.__name__}")


async def test_add_list_remove_round_trip_through_the_registry(env: Env) -> None:
    added = await newsmon(env, "feeds", "add", "https://news.example.org/world.xml", "--id", "world",
                          "--name", "World", "--lang", "en", "--category", "wire", "--interval", "120")  # fmt: skip
    assert added.rc == 0, added.err
    assert "added feed world" in added.out
    listed = (await newsmon(env, "feeds", "list", "--json")).json_lines()
    assert len(listed) == 1
    first = listed[0]
    assert (first["id"], first["url"], first["name"], first["lang"]) == (
        "world", "https://news.example.org/world.xml", "World", "en")  # fmt: skip
    assert (first["categories"], first["interval_s"], first["origin"]) == (["wire"], 120.0, "cli")

    # Changing a feed keeps when it was first added.
    changed = await newsmon(env, "feeds", "add", "https://news.example.org/world.xml", "--id", "world",
                            "--name", "World Desk")  # fmt: skip
    assert changed.rc == 0 and "updated feed world" in changed.out
    regs = await read_registry(env.settings.kafka, env.settings.topics.feed_registry)
    assert regs["world"].feed["name"] == "World Desk"
    assert regs["world"].added_at.isoformat().startswith(first["added_at"][:19])
    assert regs["world"].updated_at > regs["world"].added_at

    removed = await newsmon(env, "feeds", "remove", "world")
    assert removed.rc == 0 and "removed feed world" in removed.out
    assert (await newsmon(env, "feeds", "list", "--json")).json_lines() == []
    records = await read_topic(env.settings.kafka.bootstrap_servers, env.settings.topics.feed_registry, idle_s=0.5)
    assert [r.key for r in records] == [b"world"] * 3
    assert records[-1].value is None, "removal is a tombstone, so compaction forgets the feed"

    again = await newsmon(env, "feeds", "remove", "world")
    assert again.rc == 1 and "no feed 'world'" in again.err
    bad = await newsmon(env, "feeds", "add", "not-a-url")
    assert bad.rc == 2 and "http:// or https://" in bad.err
    assert len(await read_topic(env.settings.kafka.bootstrap_servers, env.settings.topics.feed_registry,
                                idle_s=0.5)) == 3  # fmt: skip


async def test_running_poller_picks_up_added_and_removed_feeds(env: Env, feed_server: FeedServer) -> None:
    a = feed_server.set("/a.xml", rss([("a-1", "Story a 1", "A.")]))
    b = feed_server.set("/b.xml", rss([("b-1", "Story b 1", "B <b>bold</b> &amp; more."), ("b-2", "Story b 2", "")]))
    settings = env.settings
    stop = asyncio.Event()
    poller = asyncio.create_task(run_ingestion(settings, [FeedConfig(id="a", url=a, interval_s=0.2)], stop))
    try:

        async def a_polled() -> bool:
            return feed_server.hits.get("/a.xml", 0) > 0

        await eventually(a_polled)
        assert (await newsmon(env, "feeds", "add", b, "--interval", "0.2")).rc == 0

        async def b_produced() -> bool:
            recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, idle_s=0.3)
            return {decode(RawItem, r.value).title for r in recs} >= {"Story b 1", "Story b 2"}

        await eventually(b_produced)
        # `check` prints exactly the items the poller produced from the same feed.
        checked = await newsmon(env, "feeds", "check", b, "--json")
        assert checked.rc == 0, checked.err
        produced = [decode(RawItem, r.value) for r in await read_topic(settings.kafka.bootstrap_servers,
                                                                        settings.topics.raw, idle_s=0.3)]  # fmt: skip
        assert {i["id"] for i in checked.json_lines()} == {i.id for i in produced if i.feed_url == b}

        b_id = next(i.feed_id for i in produced if i.feed_url == b)
        assert (await newsmon(env, "feeds", "remove", b_id)).rc == 0
        await asyncio.sleep(1.0)  # the removal reaches the poller; a poll in flight may still finish
        hits_b, hits_a = feed_server.hits["/b.xml"], feed_server.hits["/a.xml"]
        await asyncio.sleep(1.5)
        assert feed_server.hits["/b.xml"] == hits_b, "a removed feed must not be polled any more"
        assert feed_server.hits["/a.xml"] > hits_a, "the other feeds keep their schedule"
    finally:
        stop.set()
        await asyncio.wait_for(poller, 60)


async def test_check_prints_normalized_items_or_the_error_class(env: Env, feed_server: FeedServer) -> None:
    url = feed_server.set("/c.xml", rss([("c-1", "Border &amp; vote", "Polls <b>open</b> &amp; close."),
                                         ("c-2?utm_source=x&fbclid=1", "Second", "Two.")]))  # fmt: skip
    text = await newsmon(env, "feeds", "check", url)
    assert text.rc == 0, text.err
    assert "Border & vote" in text.out and "2 items" in text.err
    items = (await newsmon(env, "feeds", "check", url, "--json")).json_lines()
    assert len(items) == 2
    for item in items:
        assert {"id", "title", "summary", "url", "published"} <= set(item)
        assert len(item["id"]) == 32
    by_title = {i["title"]: i for i in items}
    assert by_title["Border & vote"]["summary"] == "Polls open & close."
    assert by_title["Second"]["url"] == "https://news.example.org/c-2"

    page = feed_server.set("/page.xml", b"<!doctype html><html><body>Hi</body></html>",
                           headers={"Content-Type": "text/html"})  # fmt: skip
    down = feed_server.set("/down.xml", b"", status=503)
    for target, kind in ((page, "not_a_feed"), (down, "http_status 503"), ("http://127.0.0.1:9/x.xml", "connect")):
        failed = await newsmon(env, "feeds", "check", target)
        assert failed.rc == 1, failed.out
        assert failed.err.startswith(f"error: {kind}"), failed.err
        assert "Traceback" not in failed.err


async def test_health_lists_feeds_by_state_with_their_last_error(env: Env, feed_server: FeedServer) -> None:
    feeds = [
        FeedConfig(id="good", url=feed_server.set("/good.xml", rss([("g", "Good", "G.")])), interval_s=0.2),
        FeedConfig(id="broken", url=feed_server.set("/broken.xml", b"oops", status=500), interval_s=0.2),
        FeedConfig(id="gone", url=feed_server.set("/gone.xml", b"", status=410), interval_s=0.2),
        FeedConfig(id="quiet", url=feed_server.set("/quiet.xml", rss([("q", "Quiet", "Q.")])), interval_s=0.2,
                   silent_after_s=1.0),
    ]  # fmt: skip
    stop = asyncio.Event()
    poller = asyncio.create_task(run_ingestion(env.settings, feeds, stop))
    await asyncio.sleep(3.5)
    stop.set()
    await asyncio.wait_for(poller, 60)
    assert (await newsmon(env, "feeds", "add", feed_server.url("/later.xml"), "--id", "later")).rc == 0

    health = await newsmon(env, "feeds", "health", "--json")
    assert health.rc == 0, health.err
    by_id = {h["id"]: h for h in health.json_lines()}
    states = {fid: h["state"] for fid, h in by_id.items()}
    assert states == {"good": "healthy", "broken": "failing", "gone": "disabled", "quiet": "silent",
                      "later": "never_polled"}  # fmt: skip
    assert by_id["broken"]["last_error_kind"] == "http_status" and "500" in by_id["broken"]["last_error"]
    assert by_id["broken"]["consecutive_errors"] >= 1 and by_id["broken"]["last_success"] is None
    assert "410" in by_id["gone"]["disabled_reason"]
    assert by_id["good"]["last_success"] is not None and by_id["good"]["last_error"] == ""

    text = (await newsmon(env, "feeds", "health")).out
    # Groups in order of urgency, each with its feeds.
    order = [text.index(f"{group} (1)") for group in ("failing", "disabled", "silent", "never_polled", "healthy")]
    assert order == sorted(order), text
    assert "broken" in text.split("failing (1)")[1].split("disabled (1)")[0]


async def test_config_sync_is_idempotent_and_keeps_feeds_added_from_the_cli(env: Env) -> None:
    s = env.settings
    topic = s.topics.feed_registry
    a, b = FeedConfig(id="a", url="https://a.example.org/f"), FeedConfig(id="b", url="https://b.example.org/f")
    producer = make_producer(s.kafka)
    await producer.start()
    try:
        cli_feed = FeedConfig(id="by-hand", url="https://c.example.org/f")
        await producer.send_and_wait(topic, registration(cli_feed, "cli").model_dump_json().encode(), key=b"by-hand")
        # Two pollers starting together with the same list write the same records, and agree on the result.
        first = await asyncio.gather(*(sync_config(producer, s.kafka, topic, [a, b]) for _ in range(2)))
        assert all(r.removed == 0 and r.added + r.updated + r.unchanged == 2 for r in first)
        written = len(await read_topic(s.kafka.bootstrap_servers, topic, idle_s=0.5))

        again = await sync_config(producer, s.kafka, topic, [a, b])
        assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 2)
        assert len(await read_topic(s.kafka.bootstrap_servers, topic, idle_s=0.5)) == written, "nothing rewritten"

        changed = FeedConfig(id="a", url="https://a.example.org/new")
        result = await sync_config(producer, s.kafka, topic, [changed])
        assert (result.added, result.updated, result.removed) == (0, 1, 1)
        regs = await read_registry(s.kafka, topic)
        assert set(regs) == {"a", "by-hand"}
        assert regs["a"].feed["url"] == "https://a.example.org/new" and regs["a"].origin == "config"
        assert regs["by-hand"].origin == "cli"
    finally:
        await producer.stop()
