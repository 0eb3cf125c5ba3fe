"""Hostile and broken feeds over real local HTTP, with the real broker: each failure is classified, backed off and
recorded, the feed is disabled when it is gone, and a healthy feed polled beside them keeps its schedule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import brotli
import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from monitor.broker.local import free_port
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import fetch, make_session
from monitor.ingest.poller import FeedPoller
from monitor.ingest.scheduler import Scheduler
from monitor.ingest.state import FeedStateStore
from monitor.messages import FeedState, RawItem, decode
from monitor.ops.server import serve_ops
from monitor.settings import MetricsSettings, Settings
from monitor.shell.service import run_service
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs
from tests.conftest import make_settings
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic

LIMIT = 256 * 1024  # max_body_bytes in these tests
BOMB_BYTES = 64 * 1024 * 1024  # what the compression bombs expand to
HUGE_BYTES = 100 * 1024 * 1024
CHALLENGE = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf-chl</body></html>"
HTML = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><p>Our news</p></body></html>"
RETRY_AFTER_S = 4


def _compressed(encoding: str) -> bytes:
    """64 MiB of zeros, compressed in pieces so building the bomb never holds it in memory."""
    zeros = bytes(1024 * 1024)
    if encoding == "gzip":
        gz = zlib.compressobj(9, zlib.DEFLATED, 31)
        return b"".join(gz.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))) + gz.flush()
    br = brotli.Compressor(quality=5)
    return b"".join(br.process(zeros) for _ in range(BOMB_BYTES // len(zeros))) + br.finish()


def _billion_laughs() -> bytes:
    decl = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return _entity_feed(decl, "&lol9;")


def _entity_feed(declarations: str, reference: str, *, prolog: str = "") -> bytes:
    """An RSS 2.0 feed whose internal DTD subset holds `declarations`; five items each cite `reference`."""
    items = "".join(
        f"<item><guid>e-{k}</guid><title>Story {k}</title><description>{reference}</description></item>"
        for k in range(5)
    )
    return (
        f'<?xml version="1.0"?>\n{prolog}<!DOCTYPE rss [\n{declarations}\n]>\n'
        f'<rss version="2.0"><channel><title>Entities</title>{items}</channel></rss>'
    ).encode()


def _literal_amplification(entities: int = 3) -> bytes:
    """50 KB literal entities, each cited 40 times per item: three make a 150 KB body worth 30 MB of text."""
    value = ("x" * 49 + " ") * 1000
    decl = "\n".join(f'<!ENTITY e{i} "{value}">' for i in range(entities))
    return _entity_feed(decl, "".join(f"&e{i};" for i in range(entities)) * 40)


# Entity use found in real feeds: a character entity borrowed from HTML and a short literal for a repeated prefix.
HARMLESS_ENTITIES = _entity_feed(
    '<!ENTITY nbsp "&#160;">\n<!ENTITY id "tag:example.com,">\n'
    '<!ENTITY % lat1 PUBLIC "-//W3C//ENTITIES Latin 1//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml-lat1.ent">',
    "Filed&nbsp;under &id;2024",
)

# 20,000 blank lines before the root element: about 14 s of CPU in the parser's line-anchored DTD patterns.
BLANK_PROLOG = b'<?xml version="1.0"?>' + b"\n" * 20_000 + rss([("b-1", "After the blanks", "B.")]).split(b"?>", 1)[1]
# A feed on one line whose story quotes 1,000 "encoding" attributes: about 7 s in the parser's encoding pattern.
ONE_LINE = rss([("b-1", "After the blanks", 'encoding="x" ' * 1_000)])

ENTITY_BOMBS = {
    "/laughs": _billion_laughs(),
    "/amplify": _literal_amplification(),
    # The same literal amplification behind 70 KB of comment, past where a DTD is usually looked for.
    "/amplify-late": _entity_feed(
        '<!ENTITY e0 "' + "y" * 50_000 + '">', "&e0;" * 120, prolog="<!--" + " pad" * 17_500 + "-->\n"
    ),
    # A "]>" inside a literal value is not the end of the DTD: the big entity after it still counts.
    "/amplify-bracket": _entity_feed('<!ENTITY end "]>">\n<!ENTITY e0 "' + "z" * 50_000 + '">', "&e0;" * 120),
    # The same in UTF-16, where "<!ENTITY" is not ASCII bytes.
    "/amplify-utf16": _literal_amplification(2).decode().replace("1.0", '1.0" encoding="utf-16', 1).encode("utf-16"),
    # A character reference to "&" inside a value builds references from other entities all the same.
    "/laughs-charref": _entity_feed(
        '<!ENTITY a "aaaaaaaaaa">\n<!ENTITY b "' + "&#38;a;" * 10 + '">\n<!ENTITY c "' + "&#38;b;" * 10 + '">',
        "&c;" * 50,
    ),
    # Many entity declarations outside any DOCTYPE, each without its ">": the parser's own DTD rewriting scans to
    # the end of the prolog from each of them.
    # The blank lines in UTF-16, which cannot be collapsed before the parser converts them.
    "/blank-prolog-utf16": BLANK_PROLOG.decode().replace("1.0", '1.0" encoding="utf-16', 1).encode("utf-16"),
    # An XML declaration that never ends, repeating "encoding=": the parser's encoding pattern backtracks over it.
    "/long-declaration": b"<?xml " + b"encoding='x' " * 2_000 + rss([("x", "x", "x")]).split(b"?>", 1)[1],
    "/entity-lines": b'<?xml version="1.0"?>' + b"\n<!ENTITY" * 4_000 + rss([("x", "x", "x")]).split(b"?>", 1)[1],
}


@dataclass
class Conditional:
    """A feed that honours If-None-Match; `mode` makes it fail or answer 304 whatever was asked."""

    body: bytes
    etag: str
    mode: str = "ok"  # ok | fail | always304
    requests: list[dict[str, str]] = field(default_factory=list)


class HostileServer:
    """Serves misbehaving feeds; counts hits and how many bytes each streaming route managed to send."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self.conditional: dict[str, Conditional] = {}
        self.base = ""
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._bombs = {"gzip": _compressed("gzip"), "br": _compressed("br")}

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def conditional_feed(self, name: str, cond: Conditional) -> FeedConfig:
        """A feed served at /cond/<name> that answers conditional requests as `cond` says."""
        self.conditional[name] = cond
        return FeedConfig(id=name, url=self.url(f"/cond/{name}"))

    async def start(self) -> None:
        app = web.Application()
        routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
            "/stall": self._stall,
            "/trickle": self._trickle,
            "/huge": self._huge,
            "/huge-declared": self._huge_declared,
            "/gzip-bomb": self._bomb,
            "/br-bomb": self._bomb,
            "/br-ok": self._br_ok,
            "/bad-utf8": lambda r: self._static(_bad_utf8()),
            "/html": lambda r: self._static(HTML, content_type="text/html"),
            "/loop": lambda r: self._static(b"", status=302, headers={"Location": "/loop"}),
            "/429": lambda r: self._static(b"slow down", status=429, headers={"Retry-After": str(RETRY_AFTER_S)}),
            "/503-long": lambda r: self._static(b"", status=503, headers={"Retry-After": "600"}),
            "/gone": lambda r: self._static(b"gone", status=410),
            "/missing": lambda r: self._static(b"not here", status=404),
            "/challenge": lambda r: self._static(
                CHALLENGE, status=403, content_type="text/html", headers={"cf-mitigated": "challenge"}
            ),
            "/captcha": lambda r: self._static(
                b'<html><script src="https://ct.captcha-delivery.com/c.js"></script></html>',
                status=429,
                content_type="text/html",
            ),
            "/dd-header": lambda r: self._static(b"", status=403, headers={"X-DD-B": "1"}),
            "/datadome": lambda r: self._static(
                b"<html>blocked</html>",
                status=403,
                content_type="text/html",
                headers={"Set-Cookie": "datadome=abc123; Path=/; Secure"},
            ),
        }
        for path, handler in routes.items():
            app.router.add_get(path, self._counted(path, handler))
        for path, body in {
            **ENTITY_BOMBS,
            "/entities-ok": HARMLESS_ENTITIES,
            "/blank-prolog": BLANK_PROLOG,
            "/one-line": ONE_LINE,
        }.items():
            app.router.add_get(path, self._counted(path, lambda r, b=body: self._static(b)))
        app.router.add_get("/cond/{name}", self._conditional)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _counted(
        self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            self.hits[path] = self.hits.get(path, 0) + 1
            return await handler(request)

        return wrapped

    async def _static(
        self, body: bytes, *, status: int = 200, content_type: str = "application/rss+xml",
        headers: dict[str, str] | None = None,
    ) -> web.Response:  # fmt: skip
        return web.Response(body=body, status=status, headers={"Content-Type": content_type, **(headers or {})})

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _gone(self, request: web.Request) -> bool:
        return self._closing.is_set() or request.transport is None or request.transport.is_closing()

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Never ends')
        while not self._gone(request):  # the body never finishes
            await self._pause(0.1)
        return resp

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        # One byte well within the read timeout each time, so only the total timeout can end it.
        while not self._gone(request):
            try:
                await resp.write(b" ")
            except (ConnectionError, RuntimeError):
                break
            await self._pause(0.3)
        return resp

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        chunk = b"<item>" + b"x" * (64 * 1024 - 6)
        sent = 0
        try:
            while sent < HUGE_BYTES and not self._gone(request):
                await resp.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        self.sent["/huge"] = max(self.sent.get("/huge", 0), sent)
        return resp

    async def _huge_declared(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml", "Content-Length": str(HUGE_BYTES)})
        await resp.prepare(request)
        try:
            await resp.write(b"<rss>")
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def _bomb(self, request: web.Request) -> web.StreamResponse:
        encoding = "gzip" if request.path.startswith("/gzip") else "br"
        return web.Response(
            body=self._bombs[encoding],
            headers={"Content-Type": "application/rss+xml", "Content-Encoding": encoding},
        )

    async def _br_ok(self, request: web.Request) -> web.StreamResponse:
        body = brotli.compress(rss([("br-1", "Compressed story one", "B."), ("br-2", "Compressed story two", "B.")]))
        return web.Response(body=body, headers={"Content-Type": "application/rss+xml", "Content-Encoding": "br"})

    async def _conditional(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        feed = self.conditional[request.match_info["name"]]
        feed.requests.append({k.lower(): v for k, v in request.headers.items()})
        if feed.mode == "fail":
            return web.Response(status=500, text="backend down")
        if feed.mode == "always304" or request.headers.get("If-None-Match") == feed.etag:
            # A 304 may carry a new ETag; the poller must still keep the validators of the last good 200.
            return web.Response(status=304, headers={"ETag": '"from-a-304"'})
        return web.Response(body=feed.body, headers={"Content-Type": "application/rss+xml", "ETag": feed.etag})


def _bad_utf8() -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Caf\xe9 \xff\xfe</title>'
        b"<item><guid>u1</guid><title>Broken \xc3\x28 bytes \xe2\x82</title><description>x</description></item>"
        b"</channel></rss>"
    )


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[HostileServer]:
    server = HostileServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def hostile_settings(kafka_bootstrap: str, tmp_path: Path, **ingest: object) -> Settings:
    base: dict[str, object] = {
        "min_interval_s": 0.2, "default_interval_s": 0.3, "max_backoff_s": 8.0, "connect_timeout_s": 1.0,
        "read_timeout_s": 1.0, "total_timeout_s": 2.5, "max_body_bytes": LIMIT, "max_redirects": 3,
        "per_host": 32, "disable_after_404": 3,
    }  # fmt: skip
    base.update(ingest)
    return make_settings(kafka_bootstrap, tmp_path, **base)


async def with_topics(settings: Settings) -> Settings:
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    return settings


async def states(settings: Settings) -> dict[str, FeedState]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, idle_s=0.5)
    return {r.key.decode(): decode(FeedState, r.value) for r in recs}


async def raw_items(settings: Settings, expect: int | None = None) -> list[RawItem]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=expect, idle_s=0.5)
    return [decode(RawItem, r.value) for r in recs]


class PollerFor:
    """A FeedPoller on the real broker and a real HTTP session, driven poll by poll."""

    def __init__(self, settings: Settings, seed: int = 1) -> None:
        self.settings = settings
        self.seed = seed
        self._producer = make_producer(settings.kafka)
        self._session: aiohttp.ClientSession | None = None
        self.store = FeedStateStore(settings.kafka, settings.topics.feed_state, self._producer)

    async def __aenter__(self) -> FeedPoller:
        await self._producer.start()
        await self.store.load()
        self._session = make_session(self.settings.ingest)
        return FeedPoller(self.settings, self._session, self._producer, self.store, random.Random(self.seed))

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        await self._producer.stop()


@contextlib.asynccontextmanager
async def scheduling(settings: Settings, feeds: list[FeedConfig]) -> AsyncIterator[Scheduler]:
    """The real Scheduler over the feeds, resuming from the state in the topic, stopped (drained) at the end."""
    maker = PollerFor(settings)
    async with maker as poller:
        scheduler = Scheduler(poller, maker.store, feeds, settings.ingest)
        task = asyncio.create_task(scheduler.run())
        try:
            yield scheduler
        finally:
            scheduler.stop()
            await asyncio.wait_for(task, 30)


async def run_for(settings: Settings, feeds: list[FeedConfig], seconds: float) -> None:
    async with scheduling(settings, feeds):
        await asyncio.sleep(seconds)


def backoff_range(errors: int, *, slow: bool, base: float = 0.2, cap: float = 8.0) -> tuple[float, float]:
    """Where the wait after `errors` failures must fall: base doubling per failure, 4x for slow kinds, ±20%."""
    nominal = base * 2 ** (errors - 1 + (2 if slow else 0))
    if nominal >= cap:
        return cap * 0.8, cap
    return nominal * 0.8, min(cap, nominal * 1.2)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# Feed id -> (path on the hostile server or a full URL, expected error kind, retried slowly).
HOSTILE: dict[str, tuple[str, ErrorKind, bool]] = {
    "stall": ("/stall", ErrorKind.TIMEOUT, False),
    "trickle": ("/trickle", ErrorKind.TIMEOUT, False),
    "huge": ("/huge", ErrorKind.TOO_LARGE, True),
    "huge-declared": ("/huge-declared", ErrorKind.TOO_LARGE, True),
    "gzip-bomb": ("/gzip-bomb", ErrorKind.TOO_LARGE, True),
    "br-bomb": ("/br-bomb", ErrorKind.TOO_LARGE, True),
    "laughs": ("/laughs", ErrorKind.PARSE, True),
    "html": ("/html", ErrorKind.NOT_A_FEED, True),
    "loop": ("/loop", ErrorKind.REDIRECT, True),
    "challenge": ("/challenge", ErrorKind.BLOCKED, True),
    "datadome": ("/datadome", ErrorKind.BLOCKED, True),
    "captcha": ("/captcha", ErrorKind.BLOCKED, True),
    "dd-header": ("/dd-header", ErrorKind.BLOCKED, True),
    "dns": ("http://feed.invalid/rss.xml", ErrorKind.DNS, False),
    "slow-down": ("/429", ErrorKind.HTTP_STATUS, False),
    "unavailable": ("/503-long", ErrorKind.HTTP_STATUS, False),
    "gone": ("/gone", ErrorKind.HTTP_STATUS, True),
    "missing": ("/missing", ErrorKind.HTTP_STATUS, True),
}


async def test_hostile_feeds_are_classified_backed_off_and_never_stall_a_healthy_feed(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer, feed_server: FeedServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path))
    good_url = feed_server.set("/good.xml", rss([("g-0", "Good story 0", "Fine.")]))
    feeds = [FeedConfig(id="good", url=good_url, interval_s=0.3), FeedConfig(id="br-ok", url=hostile.url("/br-ok"))]
    feeds += [
        FeedConfig(id=fid, url=p if p.startswith("http") else hostile.url(p)) for fid, (p, _, _) in HOSTILE.items()
    ]
    feeds.append(FeedConfig(id="bad-utf8", url=hostile.url("/bad-utf8")))
    timeouts_before = sample("newsmon_polls_total", outcome="timeout")
    hits_before = dict(hostile.hits)
    blocked_before = sample("newsmon_feed_errors_total", kind="blocked")

    loop = asyncio.get_running_loop()
    with capture_logs() as logs:
        async with scheduling(settings, feeds):
            await asyncio.sleep(3.0)
            feed_server.set("/good.xml", rss([("g-0", "Good story 0", "Fine."), ("g-1", "Good story 1", "Later.")]))
            started = loop.time()
            later = await raw_items(settings, expect=5)  # 2 good, 2 compressed, 1 from the broken encoding
            arrived_after = loop.time() - started
            await asyncio.sleep(max(0.0, 3.0 - arrived_after))
            condition = {c: sample("newsmon_feeds", condition=c) for c in ("healthy", "failing", "disabled")}

    by_feed: dict[str, list[str]] = {}
    for item in later:
        by_feed.setdefault(item.feed_id, []).append(item.title)
    # The healthy feed kept its schedule: about one poll per 0.3 s over 6 s, and the story added later arrived.
    assert feed_server.hits["/good.xml"] >= 10, feed_server.hits
    assert sorted(by_feed["good"]) == ["Good story 0", "Good story 1"]
    assert arrived_after < 4.0
    # aiohttp decodes brotli with the Brotli package installed.
    assert sorted(by_feed["br-ok"]) == ["Compressed story one", "Compressed story two"]

    latest = await states(settings)
    for fid, (_, kind, slow) in HOSTILE.items():
        st = latest[fid]
        assert st.last_error_kind == kind.value, (fid, st.last_error)
        assert st.consecutive_errors >= 1 and st.error_counts == {kind.value: st.consecutive_errors}, (fid, st)
        assert st.last_success is None and st.next_poll_at is not None and st.last_attempt is not None
        if fid in ("slow-down", "unavailable", "gone", "missing"):
            continue
        lo, hi = backoff_range(st.consecutive_errors, slow=slow)
        waited = (st.next_poll_at - st.last_attempt).total_seconds()
        assert lo <= waited <= hi, (fid, st.consecutive_errors, waited)

    # Streamed, not buffered: the client hung up long before 100 MB were sent.
    assert 0 < hostile.sent["/huge"] < 16 * 1024 * 1024
    # Retry-After sets the next poll; a Retry-After beyond the maximum backoff is capped.
    slow_down = latest["slow-down"]
    assert slow_down.next_poll_at is not None and slow_down.last_attempt is not None
    assert (slow_down.next_poll_at - slow_down.last_attempt).total_seconds() == pytest.approx(RETRY_AFTER_S)
    assert hostile.hits["/429"] - hits_before.get("/429", 0) <= 2
    unavailable = latest["unavailable"]
    assert unavailable.next_poll_at is not None and unavailable.last_attempt is not None
    assert (unavailable.next_poll_at - unavailable.last_attempt).total_seconds() == pytest.approx(8.0)
    assert hostile.hits["/503-long"] - hits_before.get("/503-long", 0) == 1
    # 410 disables at once, 404 after three in a row; neither is polled again, each is logged once.
    assert latest["gone"].disabled_reason == "410 Gone" and hostile.hits["/gone"] - hits_before.get("/gone", 0) == 1
    assert latest["missing"].disabled_reason.startswith("404")
    assert hostile.hits["/missing"] - hits_before.get("/missing", 0) == 3
    assert latest["missing"].not_found_streak == 3 and latest["missing"].disabled_at is not None
    disabled_logs = [e for e in logs if e["event"] == "feed.disabled"]
    assert sorted(e["feed"] for e in disabled_logs) == ["gone", "missing"]
    assert all(e["log_level"] == "warning" for e in disabled_logs)
    # Broken UTF-8 is decoded as well as it can be: items, or a parse error, never a crash.
    assert "bad-utf8" in by_feed or latest["bad-utf8"].last_error_kind == "parse"
    assert not [e for e in logs if e["event"] == "scheduler.loop_crashed"]
    # Metrics: failures counted by kind, feeds counted by condition while the scheduler ran.
    assert sample("newsmon_polls_total", outcome="timeout") >= timeouts_before + 2
    assert sample("newsmon_feed_errors_total", kind="blocked") >= blocked_before + 4
    assert condition["disabled"] == 2
    assert condition["failing"] == len(HOSTILE) - 2
    assert condition["healthy"] == 3


async def test_compression_bombs_are_cut_at_the_decompressed_limit_in_bounded_memory(
    hostile: HostileServer, settings: Settings
) -> None:
    ing = settings.ingest.model_copy(update={"max_body_bytes": LIMIT})
    async with make_session(ing) as session:
        ok = await fetch(session, hostile.url("/br-ok"), ing)
        assert ok.status == 200 and b"Compressed story one" in ok.body
        for path in ("/gzip-bomb", "/br-bomb"):
            tracemalloc.start()
            try:
                with pytest.raises(FeedError) as info:
                    await fetch(session, hostile.url(path), ing)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert info.value.kind is ErrorKind.TOO_LARGE, path
            # The compressed body is smaller than the limit: only the decompressed size can trip it.
            assert len(hostile._bombs["gzip" if path.startswith("/gzip") else "br"]) < LIMIT
            assert peak < 16 * 1024 * 1024, (path, peak)


@pytest.mark.parametrize("path", list(ENTITY_BOMBS))
async def test_entity_bombs_are_refused_quickly_in_bounded_memory(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer, path: str
) -> None:
    # Parsed in a thread of this process, so tracemalloc sees the whole poll: fetch, parse and normalization.
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path, parse_workers=0))
    feed = FeedConfig(id=path.strip("/"), url=hostile.url(path))
    async with PollerFor(settings) as poller:
        loop = asyncio.get_running_loop()
        started = loop.time()
        tracemalloc.start()
        try:
            error = (await poller.poll(feed)).error
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed = loop.time() - started
    print(f"{path}: peak {peak / 2**20:.1f} MiB traced, {elapsed:.2f} s")
    assert peak < 8 * 2**20, f"{path}: peak {peak / 2**20:.1f} MiB"
    assert error is not None, f"{path} was parsed"
    assert error.kind is ErrorKind.PARSE and "refused before parsing" in str(error)
    assert elapsed < 2.0


async def test_feeds_with_harmless_entity_declarations_stay_readable(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path, parse_workers=0))
    async with PollerFor(settings) as poller:
        await poller.poll(FeedConfig(id="entities-ok", url=hostile.url("/entities-ok")))
    items = await raw_items(settings, expect=5)
    assert sorted(i.title for i in items) == [f"Story {k}" for k in range(5)]
    assert {i.summary for i in items} == {"Filed under tag:example.com,2024"}


@pytest.mark.parametrize("path", ["/blank-prolog", "/one-line"])
async def test_feeds_that_stall_the_parsers_prolog_patterns_are_parsed_quickly(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer, path: str
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path, parse_workers=0))
    async with PollerFor(settings) as poller:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await poller.poll(FeedConfig(id=path.strip("/"), url=hostile.url(path)))
        elapsed = loop.time() - started
    (item,) = await raw_items(settings, expect=1)
    assert item.title == "After the blanks"
    assert elapsed < 2.0


async def test_a_304_never_heals_a_failing_feed_and_validators_come_only_from_a_200(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path))
    cond = Conditional(body=rss([("c-1", "Conditional story", "C.")]), etag='"v1"')
    feed = hostile.conditional_feed("heal", cond)
    async with PollerFor(settings) as poller:
        assert (await poller.poll(feed)).status == 200
        assert poller.state_of(feed).etag == '"v1"'  # type: ignore[union-attr]

        # A healthy feed asks conditionally; the ETag on the 304 does not replace the one from the 200.
        assert (await poller.poll(feed)).status == 304
        assert cond.requests[-1]["if-none-match"] == '"v1"'
        assert poller.state_of(feed).etag == '"v1"'  # type: ignore[union-attr]

        cond.mode = "fail"
        assert (await poller.poll(feed)).kind == "failed"
        assert poller.state_of(feed).etag == '"v1"'  # type: ignore[union-attr]

        # Failing: polled without validators, and a 304 anyway is an error, not a recovery.
        cond.mode = "always304"
        for _ in range(2):
            outcome = await poller.poll(feed)
            assert outcome.kind == "failed" and outcome.status == 304
            assert "if-none-match" not in cond.requests[-1]
        failing = poller.state_of(feed)
        assert failing is not None and failing.consecutive_errors == 3 and failing.etag == '"v1"'

        # Only a good 200 clears the errors and brings new validators.
        cond.mode, cond.etag = "ok", '"v2"'
        assert (await poller.poll(feed)).status == 200
        assert "if-none-match" not in cond.requests[-1]
    stored = (await states(settings))["heal"]
    assert stored.consecutive_errors == 0 and stored.last_error_kind == ""
    assert stored.etag == '"v2"'
    assert stored.error_counts == {"http_status": 3}


async def test_a_permanent_redirect_moves_the_feed_until_the_operator_changes_its_url(
    settings: Settings, feed_server: FeedServer
) -> None:
    new_url = feed_server.set("/new.xml", rss([("m-1", "Moved story", "M.")]))
    old_url = feed_server.set("/old.xml", b"", status=301, headers={"Location": new_url})
    feed_server.set("/tmp.xml", b"", status=302, headers={"Location": new_url})
    feed = FeedConfig(id="moved", url=old_url)
    async with PollerFor(settings) as poller:
        await poller.poll(feed)
        assert poller.state_of(feed).effective_url == new_url  # type: ignore[union-attr]
        await poller.poll(feed)
        assert feed_server.hits["/old.xml"] == 1 and feed_server.hits["/new.xml"] == 2
        items = await raw_items(settings, expect=1)
        assert [i.feed_url for i in items] == [new_url]

        # A temporary redirect does not move the feed; the configured URL, once changed, wins.
        changed = FeedConfig(id="moved", url=feed_server.url("/tmp.xml"))
        await poller.poll(changed)
        state = poller.state_of(changed)
        assert state is not None and state.url == changed.url and state.effective_url == ""
        await poller.poll(changed)
        assert feed_server.hits["/tmp.xml"] == 2
    stored = (await states(settings))["moved"]
    assert stored.url == changed.url and stored.effective_url == ""


async def test_a_disabled_feed_stays_off_across_restarts_until_its_url_changes(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer, feed_server: FeedServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path))
    gone = FeedConfig(id="old-gone", url=hostile.url("/gone"))
    hits_before = hostile.hits.get("/gone", 0)
    with capture_logs() as logs:
        await run_for(settings, [gone], 1.0)
        await run_for(settings, [gone], 1.0)
    assert hostile.hits["/gone"] == hits_before + 1
    assert [e["event"] for e in logs if e.get("feed") == "old-gone" and e["log_level"] == "warning"] == [
        "feed.disabled"
    ]
    assert (await states(settings))["old-gone"].disabled_reason == "410 Gone"

    revived = FeedConfig(id="old-gone", url=feed_server.set("/revived.xml", rss([("r-1", "Back again", "R.")])))
    await run_for(settings, [revived], 1.5)
    assert feed_server.hits["/revived.xml"] >= 1
    state = (await states(settings))["old-gone"]
    assert state.disabled_reason == "" and state.disabled_at is None and state.url == revived.url
    assert state.error_counts == {"http_status": 1}  # the history survives re-enabling
    assert [i.title for i in await raw_items(settings, expect=1)] == ["Back again"]


async def test_a_restarted_poller_resumes_from_next_poll_at_and_honours_max_age(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer, feed_server: FeedServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path))
    xml = {"Content-Type": "application/rss+xml"}
    cached = feed_server.set(
        "/cached.xml", rss([("k-1", "Cached", "K.")]), headers={**xml, "Cache-Control": "max-age=30"}
    )
    capped = feed_server.set(
        "/capped.xml", rss([("k-2", "Capped", "K.")]), headers={**xml, "Cache-Control": "max-age=3600"}
    )
    feeds = [
        FeedConfig(id="unavailable", url=hostile.url("/503-long")),  # Retry-After 600 s, capped at 8 s
        FeedConfig(id="cached", url=cached, interval_s=0.2),
        FeedConfig(id="capped", url=capped, max_interval_s=0.5),
    ]
    hits_503 = hostile.hits.get("/503-long", 0)
    await run_for(settings, feeds, 2.5)
    assert hostile.hits["/503-long"] == hits_503 + 1
    # max-age=30 postpones a feed polled every 0.2 s; the feed's own 0.5 s maximum bounds max-age=3600.
    assert feed_server.hits["/cached.xml"] == 1
    assert 3 <= feed_server.hits["/capped.xml"] <= 6
    before = await states(settings)
    assert before["unavailable"].next_poll_at is not None and before["cached"].next_poll_at is not None

    # Restarted at once: the next polls are still due later, so nothing is fetched early.
    await run_for(settings, feeds, 1.0)
    assert hostile.hits["/503-long"] == hits_503 + 1
    assert feed_server.hits["/cached.xml"] == 1


async def test_the_interval_follows_the_publishing_gap_and_silence_is_flagged(
    kafka_bootstrap: str, tmp_path: Path, feed_server: FeedServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path, max_interval_s=30.0))
    now = datetime.now(UTC)
    # Ten stories two seconds apart: the learned gap is 2 s, so the feed is polled every 1 s (fraction 0.5).
    rhythmic = "".join(
        f"<item><guid>p-{k}</guid><title>Pulse {k}</title><description>P.</description>"
        f"<pubDate>{format_datetime(now - timedelta(seconds=2 * k), usegmt=True)}</pubDate></item>"
        for k in range(10)
    )
    pulse = feed_server.set(
        "/pulse.xml", f'<rss version="2.0"><channel><title>P</title>{rhythmic}</channel></rss>'.encode()
    )
    # Nothing new for an hour, with a configured silence period of 10 minutes.
    quiet = feed_server.set("/quiet.xml", rss([("q-1", "Old news", "Q.")], date=now - timedelta(hours=1)))
    feeds = [FeedConfig(id="pulse", url=pulse), FeedConfig(id="quiet", url=quiet, silent_after_s=600)]
    with capture_logs() as logs:
        async with scheduling(settings, feeds):
            await asyncio.sleep(4.5)
            silent_gauge = sample("newsmon_feed_silent", feed="quiet")
    latest = await states(settings)
    assert latest["pulse"].expected_gap_s == pytest.approx(2.0)
    assert latest["pulse"].interval_s == pytest.approx(1.0)
    assert 3 <= feed_server.hits["/pulse.xml"] <= 6, feed_server.hits
    assert not latest["pulse"].silent
    # Silent: in state, in the gauge, polled at its maximum interval, logged once.
    assert latest["quiet"].silent and latest["quiet"].interval_s == 30.0
    assert silent_gauge == 1.0
    assert feed_server.hits["/quiet.xml"] == 1
    assert [e["feed"] for e in logs if e["event"] == "feed.silent"] == ["quiet"]

    # It speaks again: the flag clears, and that is logged once too.
    feed_server.set("/quiet.xml", rss([("q-1", "Old news", "Q."), ("q-2", "Fresh news", "Q.")]))
    async with PollerFor(settings) as poller:
        quiet_feed = feeds[1]
        with capture_logs() as logs:
            await poller.poll(quiet_feed)
            await poller.poll(quiet_feed)
        state = poller.state_of(quiet_feed)
        assert state is not None and not state.silent
        assert [e["event"] for e in logs if e["event"].startswith("feed.")] == ["feed.speaks_again"]


async def test_an_unchanged_feed_answering_304_is_not_written_on_every_poll(
    kafka_bootstrap: str, tmp_path: Path, hostile: HostileServer
) -> None:
    settings = await with_topics(hostile_settings(kafka_bootstrap, tmp_path))
    cond = Conditional(body=rss([("n-1", "Unchanged story", "N.")]), etag='"n1"')
    feed = hostile.conditional_feed("cheap", cond)
    async with PollerFor(settings) as poller:
        outcomes = [(await poller.poll(feed)).status for _ in range(20)]
        state = poller.state_of(feed)
    assert outcomes == [200] + [304] * 19
    assert state is not None and state.last_attempt is not None and state.next_poll_at is not None
    records = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, idle_s=0.5)
    # The 200 is written; the 304s change nothing a restarted poller needs before state_write_interval_s.
    assert len(records) == 1, [json.loads(r.value)["last_attempt"] for r in records]


async def test_metrics_are_served_over_http(settings: Settings) -> None:
    port = free_port()
    async with serve_ops(MetricsSettings(port=port)) as url:
        assert url == f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as resp:
            text = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/plain"
        for name in ("newsmon_polls_total", "newsmon_fetch_seconds_bucket", "newsmon_feeds{condition="):
            assert name in text, name
        # A port already taken does not stop the service: metrics are reported unavailable instead.
        with capture_logs() as logs:
            async with serve_ops(MetricsSettings(port=port)) as second:
                assert second == ""
        assert [e["event"] for e in logs] == ["metrics.unavailable"]
    async with serve_ops(MetricsSettings(port=0)) as disabled:
        assert disabled == ""

    # The service serves them while its stages run.
    port = free_port()
    served: dict[str, Any] = {}
    stop = asyncio.Event()

    async def probe(ev: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            served["status"] = resp.status
        ev.set()

    with_metrics = settings.model_copy(update={"metrics": MetricsSettings(port=port)})
    await asyncio.wait_for(run_service(with_metrics, {"probe": probe}, stop), 30)
    assert served == {"status": 200}
