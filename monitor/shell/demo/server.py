"""Serve the bundled sample feeds over HTTP on the loopback interface, with validators like a real server."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from importlib import resources
from xml.sax.saxutils import escape

from aiohttp import web

from monitor.ingest.feeds import FeedConfig
from monitor.settings import IngestSettings
from monitor.shell.demo.live import LIVE_STORIES


def _conditional(request: web.Request, body: bytes, content_type: str) -> web.Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers={"ETag": etag})


def _live_feed(started: float, step_s: float) -> bytes:
    count = min(len(LIVE_STORIES), 1 + int((time.monotonic() - started) / step_s))
    now = datetime.now(UTC)
    items = []
    for n, (title, summary) in enumerate(LIVE_STORIES[:count]):
        items.append(
            f"<item><title>{escape(title)}</title><link>https://demo.newsmon.invalid/live/{n}</link>"
            f"<guid>https://demo.newsmon.invalid/live/{n}</guid><pubDate>{format_datetime(now, usegmt=True)}"
            f"</pubDate><description>{escape(summary)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Demo Live Desk</title>'
        "<link>https://demo.newsmon.invalid/live</link><description>One new sample story at a time.</description>"
        f"{''.join(reversed(items))}</channel></rss>"
    ).encode()


def make_app(step_s: float = 15.0) -> web.Application:
    started = time.monotonic()
    files = resources.files("monitor.shell.demo").joinpath("feeds")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        path = files.joinpath(name)
        if "/" in name or not path.is_file():
            raise web.HTTPNotFound()
        ctype = "application/atom+xml" if name.endswith(".atom") else "application/rss+xml"
        return _conditional(request, path.read_bytes(), ctype)

    async def live(request: web.Request) -> web.Response:
        return _conditional(request, _live_feed(started, step_s), "application/rss+xml")

    app = web.Application()
    app.router.add_get("/feeds/live.xml", live)
    app.router.add_get("/feeds/{name}", static)
    return app


def demo_feeds(base_url: str, interval_s: float) -> list[FeedConfig]:
    return [
        FeedConfig(id="demo-wire", url=f"{base_url}/feeds/wire.xml", name="Demo World Wire", lang="en",
                   interval_s=interval_s),
        FeedConfig(id="demo-regional", url=f"{base_url}/feeds/regional.atom", name="Demo Regional Desk",
                   interval_s=interval_s),
        FeedConfig(id="demo-live", url=f"{base_url}/feeds/live.xml", name="Demo Live Desk", lang="en",
                   interval_s=interval_s),
    ]  # fmt: skip


def demo_ingest(s: IngestSettings, group_id: str) -> IngestSettings:
    """Ingest settings for the demo: its feeds are served on the loopback interface and polled every few seconds."""
    return s.model_copy(update={"min_interval_s": 1.0, "group_id": group_id, "allow_private_addresses": True})


async def start_demo_server(host: str = "127.0.0.1", port: int = 0, step_s: float = 15.0) -> tuple[web.AppRunner, str]:
    """Start the server; return its runner (to clean up) and its base URL."""
    runner = web.AppRunner(make_app(step_s), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, f"http://{host}:{bound}"
