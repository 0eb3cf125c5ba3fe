"""A local feed server whose responses tests change while pollers run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def rss(items: list[tuple[str, str, str]], *, title: str = "Test feed", date: datetime | None = None) -> bytes:
    """An RSS 2.0 document of (guid, title, summary) items."""
    when = format_datetime(date or datetime.now(UTC), usegmt=True)
    body = "".join(
        f'<item><guid isPermaLink="false">{escape(g)}</guid><title>{escape(t)}</title>'
        f"<link>https://news.example.org/{escape(g)}</link><description>{escape(s)}</description>"
        f"<pubDate>{when}</pubDate></item>"
        for g, t, s in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>https://news.example.org/</link><description>d</description>{body}</channel></rss>"
    ).encode()


class FeedServer:
    """Serves whatever `set` last put at a path; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.base = ""

    def set(self, path: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None,
            delay_s: float = 0.0) -> str:  # fmt: skip
        self.routes[path] = Route(body, status, headers or {"Content-Type": "application/rss+xml"}, delay_s)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404)
        if route.delay_s:
            await asyncio.sleep(route.delay_s)
        return web.Response(body=route.body, status=route.status, headers=route.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        # A delayed route may still be sleeping when a test ends: cancel it rather than wait it out.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
