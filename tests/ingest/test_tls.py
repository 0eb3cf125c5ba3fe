"""The `tls` failure class: a feed served over HTTPS with a certificate nobody trusts, on a real local server."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.stage import run_ingestion
from monitor.messages import FeedState, decode
from monitor.settings import Settings
from tests.support.feeds import rss
from tests.support.kafka import read_topic
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
FEED = rss([("tls-1", "Border post reopens after talks", "Trucks queue at the crossing.")])


@dataclass
class HttpsFeed:
    url: str
    ca_file: Path  # the certificate authority that signed the server's certificate, for the control case
    hits: list[str]


@pytest.fixture
async def https_feed(tmp_path: Path) -> AsyncIterator[HttpsFeed]:
    """An HTTPS feed server whose certificate is signed by a certificate authority made for this test."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=FEED, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/feed.xml", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
    try:
        yield HttpsFeed(f"https://127.0.0.1:{runner.addresses[0][1]}/feed.xml", ca_file, hits)
    finally:
        await runner.cleanup()


async def feeds_check(url: str, **env: str) -> tuple[int, str, str]:
    """`newsmon feeds check URL` in its own process; no broker needed."""
    # The test's server listens on loopback, which the fetch policy refuses by default.
    child = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    child |= {"NEWSMON_INGEST_ALLOW_PRIVATE_ADDRESSES": "true", **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "feeds", "check", url,
        cwd=REPO, env=child, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_feeds_check_reports_an_untrusted_certificate_as_tls(https_feed: HttpsFeed) -> None:
    rc, _, err = await feeds_check(https_feed.url)
    assert rc == 1, err
    assert err.strip().splitlines()[-1].startswith("error: tls: "), err
    assert not https_feed.hits, "no request may be sent over a connection whose certificate failed"
    # Control: trusting the test's certificate authority, the same server and URL give the feed's story.
    rc, out, err = await feeds_check(https_feed.url, SSL_CERT_FILE=str(https_feed.ca_file))
    assert rc == 0, err
    assert "Border post reopens after talks" in out and https_feed.hits == ["/feed.xml"]


async def test_poller_records_a_tls_failure_in_the_feed_state(settings: Settings, https_feed: HttpsFeed) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingestion(settings, [FeedConfig(id="tls", url=https_feed.url)], stop))
    latest: dict[str, FeedState] = {}

    async def failure_recorded() -> bool:
        recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, idle_s=0.3)
        latest.update({r.key.decode(): decode(FeedState, r.value) for r in recs})
        return "tls" in latest and latest["tls"].last_error_kind == "tls"

    try:
        assert await wait_until(failure_recorded, timeout_s=30), latest
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    state = latest["tls"]
    assert state.consecutive_errors >= 1 and set(state.error_counts) == {"tls"}, state
    assert "certificate" in state.last_error.lower(), state.last_error
    assert state.last_success is None and not https_feed.hits
