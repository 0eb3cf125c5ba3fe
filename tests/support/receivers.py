"""Local webhook receivers whose behaviour tests change while deliveries run: failures, 429s, slowness, outages."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from consumers.deliver.sinks.webhook import H_EVENT, verify


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """Answers POSTs on any path; `accepted` counts the alert event ids of every request answered with 2xx."""

    secrets: dict[str, str] | None = None  # verify HMAC signatures with these keys (key id -> secret)
    fail_first: int = 0  # answer 500 to the first K attempts of each message
    throttle_first: int = 0  # answer 429 with Retry-After to the first K attempts of each message
    retry_after_s: float = 1.0
    delay_s: float = 0.0  # wait this long before answering (longer than the sink's timeout: a timeout)
    echo_path: bool = False  # quote the request's path in refusals, as many servers do in their error pages
    requests: list[Received] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    tries: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/secret-token-abc123"

    def event_ids(self, body: bytes) -> list[str]:
        try:
            doc = json.loads(body)
        except ValueError:
            return []
        if isinstance(doc, dict) and isinstance(doc.get("alerts"), list):
            return [a["event_id"] for a in doc["alerts"]]
        return []

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        message = headers.get(H_EVENT) or str(len(self.requests))
        self.tries[message] += 1
        n = self.tries[message]
        status, extra = 200, {}
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
            if request.transport is None or request.transport.is_closing():
                # The sender gave up (timed out): nothing was delivered.
                self.requests.append(Received(time.monotonic(), headers, body, 499))
                return web.Response(status=499)
        if self.secrets is not None and (why := verify(request.headers, body, self.secrets)):
            self.rejected.append(why)
            status = 401
        elif n <= self.fail_first:
            status = 500
        elif n <= self.fail_first + self.throttle_first:
            status, extra = 429, {"Retry-After": f"{self.retry_after_s:g}"}
        self.requests.append(Received(time.monotonic(), headers, body, status))
        if status == 200:
            for eid in self.event_ids(body):
                self.accepted[eid] += 1
                self.first_seen.setdefault(eid, time.monotonic())
        text = "ok" if status == 200 else (f"no hook at {request.path_qs}" if self.echo_path else "no")
        return web.Response(status=status, text=text, headers=extra)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def go_down(self) -> None:
        """Close the listening socket: new connections are refused until `come_back`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        # Idle keep-alive connections would otherwise still carry requests through the "outage".
        if self._runner is not None and self._runner.server is not None:
            self._runner.server.pre_shutdown()

    async def come_back(self) -> None:
        await self._listen()

    async def outage(self, seconds: float) -> None:
        await self.go_down()
        await asyncio.sleep(seconds)
        await self.come_back()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def statuses(self) -> Counter[int]:
        return Counter(r.status for r in self.requests)
