"""Graceful shutdown of real processes on SIGTERM: a poll in flight finishes, the classifier finishes its batches."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from classifiers.model import NewsClassifier
from monitor.broker.local import free_port
from monitor.messages import ClassifiedItem, FeedState, RawItem, decode, encode, encode_key
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from tests.support.feeds import rss
from tests.support.kafka import committed_offsets, end_offsets, read_topic
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


async def readyz_answers(port: int, status: int) -> bool:
    """Whether the process's /readyz answers `status` now."""
    try:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as resp:
            return resp.status == status
    except aiohttp.ClientConnectionError:
        return False


def raw(i: int) -> RawItem:
    now = datetime.now(UTC)
    return RawItem(id=f"item-{i}", feed_id="f", feed_url="https://f.example/rss", source="F",
                   title=f"Regional council debates budget line {i}", summary=f"Session {i} ran late.",
                   published=now, fetched_at=now, content_hash=f"h{i}")  # fmt: skip


async def produce_raw(settings: Settings, n: int) -> None:
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        for i in range(n):
            item = raw(i)
            await producer.send(settings.topics.raw, encode(item), key=encode_key(item))
        await producer.flush()
    finally:
        await producer.stop()


async def test_sigterm_lets_the_classifier_finish_and_commit_what_it_read(
    settings: Settings, models_dir: Path, model: NewsClassifier, tmp_path: Path
) -> None:
    n = 6000
    group = settings.topics.raw.split(".", 1)[0] + "-classify"
    await produce_raw(settings, n)
    config = write_settings(settings, tmp_path, classifier={"group_id": group, "batch_size": 64, "workers": 2,
                                                            "model_dir": str(models_dir),
                                                            "model_version": model.version})  # fmt: skip
    log = tmp_path / "classify.log"
    bootstrap = settings.kafka.bootstrap_servers
    proc = await start_newsmon(settings, config, log, "run", "--stage", "classify")

    async def some_classified() -> bool:
        return (
            proc.returncode is not None or sum((await end_offsets(bootstrap, settings.topics.classified)).values()) > 0
        )

    try:
        assert await wait_until(some_classified, timeout_s=60, step_s=0.05), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert rc == 0, log.read_text()[-3000:]

    produced = sum((await end_offsets(bootstrap, settings.topics.classified)).values())
    committed = await committed_offsets(bootstrap, group, settings.topics.raw)
    print(f"\nSIGTERM after the first classified batch: {produced} of {n} classified, committed {committed}")
    assert 0 < produced < n, "SIGTERM must arrive while the stage is still working"
    # What was committed is exactly what was produced: no item lost, none to be classified again.
    assert sum(committed.values()) == produced
    recs = await read_topic(bootstrap, settings.topics.classified, expect=produced, idle_s=0.5)
    ids = Counter(decode(ClassifiedItem, r.value).item.id for r in recs)
    assert len(recs) == produced and max(ids.values()) == 1
    raws = await read_topic(bootstrap, settings.topics.raw, expect=n, idle_s=0.3)
    below = {decode(RawItem, r.value).id for r in raws if r.offset < committed.get(r.partition, 0)}
    assert set(ids) == below, "every item below the committed offsets, and only those, is in news.classified"
    assert log_events(log, "classifier.stopped")[-1]["classified"] == produced
