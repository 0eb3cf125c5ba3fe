"""Where and how much fetches may go: address policy at every hop, per-host limits; on real local servers."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner

from monitor.ingest import addresses
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import fetch, make_session
from monitor.ingest.hosts import HostSlots
from monitor.ingest.poller import FeedPoller
from monitor.ingest.scheduler import Scheduler
from monitor.ingest.state import FeedStateStore
from monitor.messages import FeedState, decode
from monitor.settings import IngestSettings, Settings
from monitor.shell.cli import cli
from monitor.shell.demo.server import demo_ingest, start_demo_server
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs
from tests.conftest import make_settings
from tests.ingest.test_hostile_feeds import PollerFor
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic

FEED = rss([("a1", "Border crossing reopens", "Traffic resumed at dawn.")])


class HostServer(FeedServer):
    """The test feed server, bound to a loopback address of the test's choice (Linux routes all of 127/8)."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.base = f"http://{self.host}:{self._runner.addresses[0][1]}"

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.set(path, b"", status=status, headers={"Location": location})

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])


@pytest.fixture
async def inner() -> AsyncIterator[HostServer]:
    """The server a fetch must not reach: on 127.0.0.1."""
    server = HostServer("127.0.0.1")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def outer() -> AsyncIterator[HostServer]:
    """A server standing in for a public one: on 127.0.0.2, which the tests allow through `allowed_networks`."""
    server = HostServer("127.0.0.2")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def ingest(**kw: Any) -> IngestSettings:
    base = {"connect_timeout_s": 2.0, "total_timeout_s": 5.0, "read_timeout_s": 3.0}
    return IngestSettings.model_validate({**base, **kw})


@dataclass
class Attempts:
    """What the client did, by aiohttp's own tracing: requests started, names looked up, connections made."""

    requests: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    connections: int = 0

    def attach(self, session: aiohttp.ClientSession) -> None:
        async def on_request(_s: object, _c: object, p: aiohttp.TraceRequestStartParams) -> None:
            self.requests.append(str(p.url))

        async def on_lookup(_s: object, _c: object, p: aiohttp.TraceDnsResolveHostStartParams) -> None:
            self.lookups.append(p.host)

        async def on_connect(_s: object, _c: object, _p: object) -> None:
            self.connections += 1

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request)
        trace.on_dns_resolvehost_start.append(on_lookup)
        trace.on_connection_create_end.append(on_connect)
        trace.freeze()
        session.trace_configs.append(trace)


async def refused(url: str, s: IngestSettings) -> tuple[FeedError, Attempts]:
    attempts = Attempts()
    async with make_session(s) as session:
        attempts.attach(session)
        with pytest.raises(FeedError) as info:
            await fetch(session, url, s)
    return info.value, attempts


async def test_a_loopback_feed_is_refused_by_address_and_by_name_unless_private_addresses_are_allowed(
    inner: HostServer,
) -> None:
    url = inner.set("/feed.xml", FEED)
    err, attempts = await refused(url, ingest())
    assert err.kind is ErrorKind.BLOCKED_ADDRESS and "127.0.0.1" in str(err)
    assert err.slow_retry
    # An address in the URL is refused before anything is sent.
    assert attempts.requests == [] and attempts.connections == 0
    # A name is looked up, and refused by what it resolves to: no connection is opened.
    err, attempts = await refused(f"http://localhost:{inner.port}/feed.xml", ingest())
    assert err.kind is ErrorKind.BLOCKED_ADDRESS and "localhost" in str(err)
    assert attempts.lookups == ["localhost"] and attempts.connections == 0
    assert inner.hits == {}
    allowed = ingest(allow_private_addresses=True)
    async with make_session(allowed) as session:
        ok = await fetch(session, f"http://localhost:{inner.port}/feed.xml", allowed)
    assert ok.status == 200 and inner.hits == {"/feed.xml": 1}


def test_public_addresses_and_their_ipv6_forms_are_permitted() -> None:
    public = [
        "8.8.8.8",
        "151.101.1.140",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ]
    assert all(addresses.is_public(ip_address(a)) for a in public)
    private = ["127.0.0.2", "::", "fec0::1", "ff02::1", "192.0.2.1", "198.18.0.1", "240.0.0.1", "2001:db8::1"]
    assert not any(addresses.is_public(ip_address(a)) for a in private)


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # cloud metadata (link-local)
        "[fd00:ec2::254]",  # cloud metadata over IPv6 (unique local)
        "[::ffff:169.254.169.254]",  # the same, IPv4-mapped
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[fe80::1]",
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
    ],
)
async def test_non_public_literal_addresses_are_refused_without_any_connection_attempt(host: str) -> None:
    err, attempts = await refused(f"http://{host}/latest/meta-data/", ingest())
    assert err.kind is ErrorKind.BLOCKED_ADDRESS, str(err)
    assert attempts.requests == [] and attempts.lookups == [] and attempts.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0177.0.0.1", "0x7f.0.0.1"])
async def test_legacy_numeric_forms_of_loopback_are_refused_without_a_connection(host: str) -> None:
    err, attempts = await refused(f"http://{host}/rss", ingest())
    # aiohttp refuses the forms it recognizes as numbers; the rest resolve to 127.0.0.1, which the resolver refuses.
    assert err.kind in (ErrorKind.BAD_URL, ErrorKind.BLOCKED_ADDRESS), str(err)
    assert attempts.connections == 0


async def test_a_redirect_to_a_refused_address_is_not_followed(inner: HostServer, outer: HostServer) -> None:
    s = ingest(allowed_networks=["127.0.0.2/32"])
    target = inner.set("/feed.xml", FEED)
    for path, location in (("/to-address", target), ("/to-name", f"http://localhost:{inner.port}/feed.xml")):
        err, attempts = await refused(outer.redirect(path, location, status=301), s)
        assert err.kind is ErrorKind.BLOCKED_ADDRESS, str(err)
        assert attempts.connections == 1, "only the allowed first hop is connected to"
    assert inner.hits == {}
    # The allowed host itself is fetched, redirects within it too.
    outer.set("/feed.xml", FEED)
    async with make_session(s) as session:
        ok = await fetch(session, outer.redirect("/moved", outer.url("/feed.xml"), status=308), s)
    assert ok.status == 200 and ok.permanent_redirect == outer.url("/feed.xml")


async def test_a_permanent_redirect_to_a_refused_address_is_not_persisted(
    kafka_bootstrap: str, tmp_path: Path, inner: HostServer, outer: HostServer
) -> None:
    settings = make_settings(kafka_bootstrap, tmp_path, allow_private_addresses=False,
                             allowed_networks=["127.0.0.2/32"])  # fmt: skip
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    feed = FeedConfig(id="moved", url=outer.redirect("/rss", inner.set("/rss", FEED), status=301))
    async with poller_for(settings) as poller:
        error = (await poller.poll(feed)).error
    assert error is not None and error.kind is ErrorKind.BLOCKED_ADDRESS
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.feed_state, expect=1)
    state = decode(FeedState, recs[-1].value)
    assert state.last_error_kind == "blocked_address" and state.consecutive_errors == 1
    assert state.effective_url == "", "the feed must keep its configured URL"
    assert inner.hits == {}


async def test_a_redirect_persisted_before_the_policy_is_dropped_when_refused(
    kafka_bootstrap: str, tmp_path: Path, inner: HostServer, outer: HostServer
) -> None:
    lax = make_settings(kafka_bootstrap, tmp_path)
    await ensure_topics(lax.kafka, topic_specs(lax.topics), 1)
    feed = FeedConfig(id="moved", url=outer.redirect("/rss", inner.set("/rss", FEED), status=301))
    async with poller_for(lax) as poller:
        assert (await poller.poll(feed)).status == 200
        assert poller.state_of(feed).effective_url == inner.url("/rss")  # type: ignore[union-attr]
    strict = lax.model_copy(update={"ingest": ingest(allow_private_addresses=False, allowed_networks=["127.0.0.2/32"])})
    async with poller_for(strict) as poller:
        error = (await poller.poll(feed)).error
        assert error is not None and error.kind is ErrorKind.BLOCKED_ADDRESS
        # The refused URL is forgotten: the next poll starts again from the configured one.
        assert poller.state_of(feed).effective_url == ""  # type: ignore[union-attr]
    assert inner.hits == {"/rss": 1}


async def test_the_demo_turns_private_addresses_on_for_its_own_local_server() -> None:
    runner, base = await start_demo_server()
    try:
        url = f"{base}/feeds/wire.xml"
        err, _ = await refused(url, IngestSettings())
        assert err.kind is ErrorKind.BLOCKED_ADDRESS
        demo = demo_ingest(IngestSettings(), "demo-pollers")
        async with make_session(demo) as session:
            assert (await fetch(session, url, demo)).status == 200
    finally:
        await runner.cleanup()


def test_feeds_check_uses_the_same_policy(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"ingest": {"connect_timeout_s": 1, "total_timeout_s": 2}}))
    result = CliRunner().invoke(cli, ["--settings", str(config), "feeds", "check", "http://169.254.169.254/rss"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: blocked_address: ")


@contextlib.asynccontextmanager
async def poller_for(settings: Settings) -> AsyncIterator[FeedPoller]:
    """A FeedPoller on the real broker and a real HTTP session."""
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        store = FeedStateStore(settings.kafka, settings.topics.feed_state, producer)
        await store.load()
        async with make_session(settings.ingest) as session:
            yield FeedPoller(settings, session, producer, store, random.Random(1))
    finally:
        await producer.stop()


class GatedServer(HostServer):
    """Answers /hang/* only when released and everything else after `delay_s`; records requests in flight."""

    def __init__(self, host: str, delay_s: float = 0.0) -> None:
        super().__init__(host)
        self.delay_s = delay_s
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if request.path.startswith("/hang/"):
                await self.release.wait()
            else:
                await asyncio.sleep(self.delay_s)
            return await super()._handle(request)
        finally:
            self.in_flight -= 1


@contextlib.asynccontextmanager
async def gated(host: str, delay_s: float = 0.0) -> AsyncIterator[GatedServer]:
    server = GatedServer(host, delay_s)
    await server.start()
    try:
        yield server
    finally:
        server.release.set()
        await server.stop()


@contextlib.asynccontextmanager
async def scheduling(settings: Settings, feeds: list[FeedConfig]) -> AsyncIterator[Scheduler]:
    """The real Scheduler over the feeds; polls still hanging at the end are cancelled, not waited for."""
    maker = PollerFor(settings)
    async with maker as poller:
        scheduler = Scheduler(poller, maker.store, feeds, settings.ingest)
        task = asyncio.create_task(scheduler.run(drain_timeout_s=1.0))
        try:
            yield scheduler
        finally:
            scheduler.stop()
            await asyncio.wait_for(task, 30)


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)


async def test_a_hanging_host_holds_only_its_own_slots_and_a_fast_host_keeps_being_polled(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap, tmp_path, concurrency=2, per_host=1, total_timeout_s=60.0,
                             read_timeout_s=60.0)  # fmt: skip
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    async with gated("127.0.0.2") as slow, gated("127.0.0.1") as fast:
        feeds = [FeedConfig(id=f"slow{n}", url=slow.set(f"/hang/{n}.xml", FEED), interval_s=0.3) for n in range(4)]
        feeds.append(FeedConfig(id="fast", url=fast.set("/fast.xml", FEED), interval_s=0.3))
        async with scheduling(settings, feeds):
            await until(lambda: slow.in_flight == 1, 10.0, "a poll of the hanging host")
            # With the hanging host's polls waiting for its one slot, not for a global one, the other slot stays free.
            await until(lambda: fast.hits.get("/fast.xml", 0) >= 10, 20.0, f"10 polls of the fast host: {fast.hits}")
            assert slow.most_in_flight == 1


async def test_no_host_ever_sees_more_than_per_host_polls_at_once(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = make_settings(kafka_bootstrap, tmp_path, concurrency=10, per_host=2)
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    async with gated("127.0.0.1", delay_s=0.3) as server:
        feeds = [FeedConfig(id=f"f{n}", url=server.set(f"/{n}.xml", FEED), interval_s=0.2) for n in range(6)]
        async with scheduling(settings, feeds):
            await until(lambda: sum(server.hits.values()) >= 12, 30.0, "12 polls")
    assert server.most_in_flight == 2


async def test_host_slots_exist_only_while_polls_want_them() -> None:
    slots = HostSlots(per_host=1)
    entered: list[str] = []

    async def poll(host: str) -> None:
        async with slots.slot(host):
            entered.append(host)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(poll(f"h{n % 500}.example") for n in range(2000)))
    assert len(entered) == 2000 and len(slots) == 0
