"""Two real poller processes share the feeds through Kafka group membership; a killed one's feeds move over.

Each process sends its own User-Agent, so the local feed server can tell which process fetched which feed.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import yaml
from aiohttp import web

from monitor.messages import FeedState, RawItem, decode
from monitor.settings import Settings
from monitor.topics import ensure_topics, topic_specs
from tests.conftest import make_settings
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic
from tests.support.processes import start_newsmon, write_settings

FEEDS = 30
SESSION_S = 6.0  # the broker's minimum session timeout
# Failure detection is one session timeout; the rest is the survivor's next heartbeat, the rejoin and reloading.
TAKEOVER_MARGIN_S = 6.0


class TrackingFeedServer(FeedServer):
    """A FeedServer that also records when, what and by whom each request was made."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[float, str, str]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((time.monotonic(), request.path, request.headers.get("User-Agent", "")))
        return await super()._handle(request)

    def first_polls(self, agent: str, since: float) -> dict[str, float]:
        """When `agent` first fetched each feed at or after `since`."""
        out: dict[str, float] = {}
        for at, path, who in self.requests:
            if who == agent and at >= since and path not in out:
                out[path] = at
        return out

    def pollers_by_feed(self, since: float, until: float = float("inf")) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for at, path, agent in self.requests:
            if since <= at < until:
                out.setdefault(path, set()).add(agent)
        return out


def stories(feed: int, n: int, start: int = 0) -> list[tuple[str, str, str]]:
    return [(f"f{feed}-{i}", f"Feed {feed} story {i}", "Body.") for i in range(start, start + n)]


def add_stories(server: FeedServer, listed: dict[int, list[tuple[str, str, str]]], n: int) -> None:
    for f, items in listed.items():
        items.extend(stories(f, n, start=len(items)))
        server.set(f"/f{f}.xml", rss(items))


async def wait_until_recorded(settings: Settings, listed: int, timeout_s: float = 20.0) -> None:
    """Until every listed item is in news.raw and recorded as seen in its feed's state (written after the items)."""
    raw: list[object] = []
    seen = 0
    for _ in range(int(timeout_s / 0.5)):
        raw = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, idle_s=0.3)
        states = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, idle_s=0.3)
        latest = {r.key: decode(FeedState, r.value) for r in states}
        seen = sum(len(s.seen) for s in latest.values())
        if len(raw) >= listed and seen >= listed:
            assert len(raw) == listed, f"{len(raw)} items in news.raw for {listed} listed"
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"after {timeout_s}s: {len(raw)} items in news.raw, {seen} seen, {listed} listed")


def write_config(settings: Settings, tmp_path: Path, urls: list[str], session_s: float = SESSION_S) -> Path:
    """The pollers' settings file and a feed list of the given URLs (ids f0, f1, ...)."""
    (tmp_path / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": [{"id": f"f{n}", "url": u} for n, u in enumerate(urls)]})
    )
    return write_settings(settings, tmp_path, ingest={
        "default_interval_s": 0.5, "min_interval_s": 0.2, "max_interval_s": 1.0, "max_backoff_s": 1.0,
        "feeds_file": str(tmp_path / "feeds.yaml"), "group_id": settings.ingest.group_id,
        "session_timeout_s": session_s})  # fmt: skip


async def start_poller(settings: Settings, config: Path, tmp_path: Path, agent: str) -> asyncio.subprocess.Process:
    """`newsmon run --stage ingest` whose requests carry `agent` as User-Agent, logging to AGENT.log."""
    return await start_newsmon(settings, config, tmp_path / f"{agent}.log", "run", "--stage", "ingest",
                               env={"NEWSMON_INGEST_USER_AGENT": agent})  # fmt: skip


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("poller-*.log")))


async def steady_split(
    server: TrackingFeedServer, paths: set[str], window_s: float, timeout_s: float
) -> dict[str, str]:
    """Wait for a window in which every feed was polled, each by one poller, with both pollers at work."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        start = time.monotonic()
        await asyncio.sleep(window_s)
        seen = server.pollers_by_feed(start, time.monotonic())
        owners = {p: next(iter(agents)) for p, agents in seen.items() if len(agents) == 1}
        if set(seen) == paths and set(owners) == paths and len(set(owners.values())) == 2:
            return owners
    raise AssertionError(f"no steady split within {timeout_s}s; last window: {seen}")


async def test_two_pollers_split_the_feeds_and_the_survivor_takes_over_without_duplicates(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap, tmp_path)
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    server = TrackingFeedServer()
    await server.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        listed = {f: stories(f, 5) for f in range(FEEDS)}
        urls = [server.set(f"/f{f}.xml", rss(listed[f])) for f in range(FEEDS)]
        paths = {f"/f{f}.xml" for f in range(FEEDS)}
        config = write_config(settings, tmp_path, urls)
        # Both start together, so both also register the same feed list at the same time.
        for agent in ("poller-a", "poller-b"):
            procs[agent] = await start_poller(settings, config, tmp_path, agent)

        owners = await steady_split(server, paths, window_s=3.0, timeout_s=30.0)
        share = Counter(owners.values())
        assert all(n >= 3 for n in share.values()), share  # both really poll a share of the 30 feeds

        first = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=FEEDS * 5)
        assert len(first) == FEEDS * 5, f"{len(first)} items for {FEEDS * 5} listed\n{logs(tmp_path)}"

        # A story per feed while the split holds: only the victim knows its feeds have already produced it, so
        # the survivor must take over the victim's latest state to avoid producing it again.
        add_stories(server, listed, 1)
        await wait_until_recorded(settings, FEEDS * 6)

        victim, survivor = "poller-a", "poller-b"
        victim_feeds = {p for p, agent in owners.items() if agent == victim}
        procs[victim].send_signal(signal.SIGKILL)
        await procs[victim].wait()
        killed_at = time.monotonic()
        add_stories(server, listed, 2)

        for _ in range(int((SESSION_S + TAKEOVER_MARGIN_S) / 0.2)):
            if victim_feeds <= set(server.first_polls(survivor, killed_at)):
                break
            await asyncio.sleep(0.2)
        first_hit = {p: at for p, at in server.first_polls(survivor, killed_at).items() if p in victim_feeds}
        missing = victim_feeds - set(first_hit)
        assert not missing, f"{len(missing)} of the killed poller's feeds never moved: {sorted(missing)[:5]}"
        takeover_s = max(first_hit.values()) - killed_at
        print(f"takeover of {len(victim_feeds)} feeds {takeover_s:.1f}s after SIGKILL (session {SESSION_S}s)")
        assert takeover_s <= SESSION_S + TAKEOVER_MARGIN_S

        expected = {t for items in listed.values() for _, t, _ in items}
        records = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=len(expected),
                                   timeout_s=30.0, idle_s=3.0)  # fmt: skip
        items = [decode(RawItem, r.value) for r in records]
        twice = [t for t, n in Counter(i.title for i in items).items() if n > 1]
        assert not twice, f"{len(twice)} items produced twice, e.g. {twice[:5]}"
        assert {i.title for i in items} == expected
        # Every feed is the survivor's now, and it keeps polling all of them.
        now = time.monotonic()
        await asyncio.sleep(2.5)
        assert set(server.pollers_by_feed(now)) == paths
        assert all(agents == {survivor} for agents in server.pollers_by_feed(now).values())

        procs[survivor].send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(procs[survivor].wait(), 60) == 0, logs(tmp_path)
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await server.stop()
