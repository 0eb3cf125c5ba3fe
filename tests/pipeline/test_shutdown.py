"""Graceful shutdown of a real poller on SIGTERM: the poll in flight finishes and readiness drops meanwhile.

Every stage stopped with SIGTERM mid-stream and restarted, losing and repeating nothing, is in tests/system."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
from aiohttp import web

from monitor.broker.local import free_port
from monitor.messages import FeedState, RawItem, decode
from monitor.settings import Settings
from tests.support.feeds import rss
from tests.support.kafka import read_topic
from tests.support.processes import log_events, signal_delivered, start_newsmon, write_settings
from tests.support.waiting import wait_for, wait_until

HELD = [(f"held-{i}", f"Held story {i} about a border crossing", "Body.") for i in range(3)]


class HoldingFeed:
    """A feed whose response waits until the test releases it, after telling the test the request arrived."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.requests = 0
        self.answered = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.arrived.set()
        await self.release.wait()
        response = web.Response(body=rss(HELD), content_type="application/rss+xml")
        await response.prepare(request)
        await response.write_eof()
        self.answered += 1
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/held.xml", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/held.xml"

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


async def test_sigterm_lets_the_poll_in_flight_finish_its_items_and_state(settings: Settings, tmp_path: Path) -> None:
    feed = HoldingFeed()
    await feed.start()
    (tmp_path / "feeds.yaml").write_text(f"feeds:\n  - id: held\n    url: {feed.url}\n")
    port = free_port()
    config = write_settings(settings, tmp_path, ingest={"feeds_file": str(tmp_path / "feeds.yaml"),
                                                        "group_id": settings.ingest.group_id},
                            metrics={"port": port, "probe_interval_s": 0.5})  # fmt: skip
    log = tmp_path / "ingest.log"
    proc = await start_newsmon(settings, config, log, "run", "--stage", "ingest")
    try:
        assert await wait_for(lambda: feed.arrived.is_set() or proc.returncode is not None, timeout_s=60)
        assert feed.arrived.is_set(), log.read_text()[-3000:]
        # Polling, the process is ready; the poll is held until released, so there is time to see it.
        assert await wait_until(lambda: readyz_answers(port, 200), timeout_s=20), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert await wait_for(lambda: signal_delivered(proc.pid, signal.SIGTERM), timeout_s=5)
        # Give the event loop a moment to act on the signal while the poll is still held, then answer it.
        await asyncio.sleep(0.5)
        assert proc.returncode is None, "the poller exited with a poll in flight"
        # Draining, it is no longer ready.
        assert await readyz_answers(port, 503)
        feed.release.set()
        rc = await asyncio.wait_for(proc.wait(), 40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await feed.stop()
    assert rc == 0, log.read_text()[-3000:]
    assert feed.answered == 1, "the poll in flight at SIGTERM was abandoned"
    assert feed.requests == 1, "no poll may start after SIGTERM"
    raw = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=len(HELD), idle_s=0.5)
    assert sorted(decode(RawItem, r.value).title for r in raw) == sorted(t for _, t, _ in HELD)
    states = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, idle_s=0.5)
    latest = {r.key.decode(): decode(FeedState, r.value) for r in states}
    assert "held" in latest and latest["held"].last_success is not None and len(latest["held"].seen) == len(HELD)
    assert not log_events(log, "scheduler.drain_timeout")
    assert log_events(log, "scheduler.stopped")[-1]["items"] == len(HELD)
    # Every line about the feed names it as `feed_id` (bound where its loop starts); the others name no feed.
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    about_feed = [x for x in lines if x.get("feed") == "held"]
    assert {x["event"] for x in about_feed} >= {"feed.polled"} and all(x.get("feed_id") == "held" for x in about_feed)
    assert not [x for x in lines if "feed_id" in x and x.get("feed") != "held"]


async def readyz_answers(port: int, status: int) -> bool:
    """Whether the process's /readyz answers `status` now."""
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            return resp.status == status
    except aiohttp.ClientConnectionError:
        return False
