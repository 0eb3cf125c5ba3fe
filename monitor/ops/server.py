"""The process's operations HTTP server on `metrics.host`:`metrics.port`: `/metrics`, `/healthz`, `/readyz`, the
status page `/` and its feeds as `/feeds.json`; a child process's answers join this one's (`monitor.ops.peer`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.ops import page
from monitor.ops.peer import merge_metrics, merge_readiness, row_to_dict
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import MetricsSettings

log = structlog.get_logger(__name__)

_READINESS = web.AppKey("readiness", Readiness)
_BOARD = web.AppKey("status", StatusBoard)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    for peer in request.app[_BOARD].peers:
        body = merge_metrics(body, await peer.metrics())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    # Answering at all shows the event loop runs; a wedged loop times the probe out.
    return web.json_response({"alive": True})


async def _readyz(request: web.Request) -> web.Response:
    report = await _readiness(request.app)
    return web.json_response(report, status=200 if report["ready"] else 503)


async def _readiness(app: web.Application) -> dict[str, Any]:
    report = app[_READINESS].report()
    for peer in app[_BOARD].peers:
        report = merge_readiness(report, peer, await peer.readiness())
    return report


async def _status(request: web.Request) -> web.Response:
    board = request.app[_BOARD]
    more = [row for peer in board.peers for row in await peer.feed_rows()]
    html = page.render(board.snapshot(await _readiness(request.app), more))
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def _feeds(request: web.Request) -> web.Response:
    # For a parent process showing this one's feeds on its status page.
    return web.json_response([row_to_dict(r) for r in request.app[_BOARD].feed_rows()])


def make_app(readiness: Readiness, board: StatusBoard | None = None) -> web.Application:
    app = web.Application()
    app[_READINESS] = readiness
    app[_BOARD] = board or StatusBoard(readiness)
    app.router.add_get("/", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/feeds.json", _feeds)
    return app


@contextlib.asynccontextmanager
async def serve_ops(
    s: MetricsSettings, readiness: Readiness | None = None, board: StatusBoard | None = None
) -> AsyncIterator[str]:
    """Serve the endpoints while the block runs; yield the base URL, or '' when disabled or the port is taken."""
    if s.port == 0:
        yield ""
        return
    readiness = readiness or Readiness()
    runner = web.AppRunner(make_app(readiness, board), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, s.host, s.port).start()
        except OSError as exc:
            # Metrics are for watching the service, not part of it: a taken port must not stop the stages.
            log.error("metrics.unavailable", host=s.host, port=s.port, error=exc.strerror or str(exc))
            yield ""
            return
        url = f"http://{s.host}:{s.port}"
        log.info(
            "metrics.serving", status=f"{url}/", url=f"{url}/metrics", health=f"{url}/healthz", ready=f"{url}/readyz"
        )
        yield url
    finally:
        await runner.cleanup()
