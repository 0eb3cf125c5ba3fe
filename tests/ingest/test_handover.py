"""A poller stopped gracefully hands its feeds over at once: the survivor takes them long before the session
timeout would have moved them, resumes from their latest state, and produces no item twice."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

from monitor.messages import RawItem, decode
from monitor.settings import Settings
from tests.ingest.test_scale_out import (
    TrackingFeedServer,
    add_stories,
    start_poller,
    steady_split,
    stories,
    wait_until_recorded,
    write_config,
)
from tests.support.feeds import rss
from tests.support.kafka import read_topic
from tests.support.processes import log_events
from tests.support.waiting import wait_for

FEEDS = 20
# Long, so a hand-over that waited for the session to expire (as after a crash) could not pass.
SESSION_S = 30.0
# Leaving the group is immediate; the survivor hears of it at its next heartbeat (at most 3 s), then rejoins.
HANDOVER_LIMIT_S = SESSION_S / 3


async def test_sigterm_hands_the_feeds_to_the_survivor_at_once_without_duplicates(
    settings: Settings, tmp_path: Path
) -> None:
    server = TrackingFeedServer()
    await server.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        listed = {f: stories(f, 3) for f in range(FEEDS)}
        urls = [server.set(f"/f{f}.xml", rss(listed[f])) for f in range(FEEDS)]
        paths = {f"/f{f}.xml" for f in range(FEEDS)}
        config = write_config(settings, tmp_path, urls, SESSION_S)
        for agent in ("poller-a", "poller-b"):
            procs[agent] = await start_poller(settings, config, tmp_path, agent)
        owners = await steady_split(server, paths, window_s=3.0, timeout_s=45.0)
        # A story per feed while the split holds, recorded in the feed state by whoever owns the feed.
        add_stories(server, listed, 1)
        await wait_until_recorded(settings, FEEDS * 4)

        victim, survivor = "poller-a", "poller-b"
        victim_feeds = {p for p, agent in owners.items() if agent == victim}
        procs[victim].send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert await asyncio.wait_for(procs[victim].wait(), 40) == 0, (tmp_path / "poller-a.log").read_text()[-3000:]
        add_stories(server, listed, 2)

        def taken_over() -> bool:
            return victim_feeds <= set(server.first_polls(survivor, stopped_at))

        assert await wait_for(taken_over, timeout_s=SESSION_S, step_s=0.1), "the survivor did not take every feed"
        first_hit = {p: at for p, at in server.first_polls(survivor, stopped_at).items() if p in victim_feeds}
        handover_s = max(first_hit.values()) - stopped_at
        print(f"\nhand-over of {len(victim_feeds)} feeds {handover_s:.1f}s after SIGTERM (session {SESSION_S:.0f}s)")
        assert handover_s <= HANDOVER_LIMIT_S, f"hand-over took {handover_s:.1f}s"

        expected = {t for items in listed.values() for _, t, _ in items}
        records = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=len(expected),
                                   timeout_s=30.0, idle_s=2.0)  # fmt: skip
        titles = Counter(decode(RawItem, r.value).title for r in records)
        twice = [t for t, n in titles.items() if n > 1]
        assert not twice, f"{len(twice)} items produced twice, e.g. {twice[:5]}"
        assert set(titles) == expected
        # The victim left cleanly: it finished its polls and its own log says so.
        assert not log_events(tmp_path / "poller-a.log", "scheduler.drain_timeout")
        assert log_events(tmp_path / "poller-a.log", "scheduler.stopped")
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        await server.stop()
