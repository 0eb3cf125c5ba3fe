"""Ingestion benchmark: the real pollers (`newsmon run --stage ingest`) against a local feed farm and a throwaway
broker, all on this machine's cores. Prints full polls/s, conditional (304) polls/s, items/s into news.raw, the
delay from a story being published (and first served) to it landing in Kafka, the pollers' CPU and memory, and
feedparser's own parse rate on the same bodies as the ceiling.

Phases:
  prime        every feed's first poll (its whole backlog is produced);
  conditional  saturated (--interval far below what the pollers reach), no feed changes: every poll is a 304;
  full         saturated, every request first adds 1-3 stories to its feed: every poll is a 200 with new stories;
  mixed        restarted pollers poll every feed once per interval (--mixed-load of the capacity measured above at
               this mix, or --mixed-interval); each round of one interval changes --change-fraction of the feeds.

Run: .venv/bin/python -m bench.ingest [--feeds 2000] [--duration 30] [--change-fraction 0.1] [--quick]
     .venv/bin/python -m bench.ingest --memory        (resident memory with 10,000 feeds)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import psutil
import yaml
from aiokafka import AIOKafkaConsumer

from bench.common import REPO, child_env, median, throwaway_broker
from bench.feedfarm import ID_DIGITS
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.formats import fast
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parser import parse_feed
from monitor.settings import KafkaSettings, TopicSettings
from monitor.topics import ensure_topics, topic_specs

TARGET_FULL = 200.0
TARGET_FULL_CPU_MS = 8.0
TARGET_304 = 1500.0
TARGET_CEILING_SHARE = 0.8
TARGET_RSS_MB = 300.0
_STORY_ID = re.compile(rf"-(\d{{{ID_DIGITS}}})(?:[/?]|$)")


@dataclass
class Window:
    phase: str
    seconds: float
    full: int
    not_modified: int
    items: int
    cpu: dict[str, float]  # cores used, by process group
    rss_mb: dict[str, float]
    gap_p50_s: float | None
    gap_p95_s: float | None
    machine_busy: float  # share of all cores in use

    def rate(self, n: int) -> float:
        return n / self.seconds


@dataclass
class Ceiling:
    feeds: int
    items_per_feed: float
    body_kb: float
    gzip_kb: float
    feedparser_per_s: float
    parse_feed_per_s: float  # with the default parser choice (auto)
    feedparser_path_per_s: float  # parse_feed with ingest.parser: feedparser
    fell_back: float  # share of the bodies the fast path left to feedparser
    parse_normalize_per_s: float


@dataclass
class Phase:
    name: str
    windows: list[Window] = field(default_factory=list)

    def med(self, fn: Any) -> float:
        values = [v for v in (fn(w) for w in self.windows) if v is not None]
        return median(values) if values else float("nan")


# ---------------------------------------------------------------- processes


class Procs:
    """CPU and memory of the processes under test, sampled between windows."""

    def __init__(self, groups: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in groups.items()}
        self._last: dict[str, float] = {}
        self._t = time.monotonic()
        psutil.cpu_percent(None)
        self.sample()

    def _cpu(self, proc: psutil.Process) -> float:
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _rss_mb(self, proc: psutil.Process) -> tuple[float, float]:
        """RSS of the process alone and with its children (the pollers' parse workers)."""
        own, total = 0, 0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                rss = p.memory_info().rss
                total += rss
                own = own or rss
        return own / 2**20, total / 2**20

    def sample(self) -> tuple[dict[str, float], dict[str, float], float]:
        now = time.monotonic()
        elapsed = max(now - self._t, 1e-9)
        cpu, rss = {}, {}
        for name, proc in self._procs.items():
            used = self._cpu(proc)
            cpu[name] = (used - self._last.get(name, used)) / elapsed
            self._last[name] = used
            rss[f"{name}_main"], rss[name] = self._rss_mb(proc)
        self._t = now
        busy = psutil.cpu_percent(None) / 100.0
        return cpu, rss, busy


@contextlib.asynccontextmanager
async def child(cmd: list[str], log: Path, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process whose stderr goes to `log`; SIGTERM and a bounded wait when the block ends."""
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=err)
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


# ---------------------------------------------------------------- news.raw


class RawTap:
    """Reads news.raw as it fills: counts items and notes when each farm story first landed."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=20, enable_auto_commit=False
        )
        self._topic = topic
        self.count = 0
        self.landed: dict[int, float] = {}
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        # Without a group the consumer takes every partition of the topic, from the oldest record.
        self._consumer.subscribe([self._topic])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
                now = time.time()
                for records in batch.values():
                    for rec in records:
                        self.count += 1
                        m = _STORY_ID.search(json.loads(rec.value).get("url", ""))
                        if m:
                            self.landed.setdefault(int(m.group(1)), now)
        except Exception as exc:
            self.error = exc  # the run checks it between windows and stops with it
            raise

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


# ---------------------------------------------------------------- the farm


class FarmClient:
    """The farm's control endpoints, and its feeds as a poller would fetch them."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self._s = session
        self.base = base

    async def stats(self) -> dict[str, Any]:
        async with self._s.get(f"{self.base}/_stats") as r:
            return dict(await r.json())

    async def control(self, **doc: Any) -> None:
        async with self._s.post(f"{self.base}/_control", json=doc) as r:
            r.raise_for_status()

    async def stories(self) -> dict[int, tuple[str, float, float | None]]:
        async with self._s.get(f"{self.base}/_stories", timeout=aiohttp.ClientTimeout(total=120)) as r:
            doc = await r.json()
        return {int(k): (v[0], v[1], v[2]) for k, v in doc.items()}

    async def body(self, n: int) -> tuple[bytes, dict[str, str], int]:
        async with self._s.get(f"{self.base}/feed/{n}.xml", headers={"Accept-Encoding": "gzip"}) as r:
            body = await r.read()
            return body, {k.lower(): v for k, v in r.headers.items()}, int(r.headers.get("Content-Length", 0))


def measure_ceiling(samples: list[tuple[bytes, dict[str, str], int]], base: str, repeats: int) -> Ceiling:
    """Parse the farm's own bodies in this one process: feedparser alone, parse_feed through feedparser and through
    the fast path (auto), and parse plus normalize."""
    url = f"{base}/feed/0.xml"
    feed = FeedConfig(url=url, id="ceiling")
    hdrs = {"content-type": "application/rss+xml; charset=utf-8", "content-location": url}

    def rate(fn: Any) -> float:
        runs = []
        for _ in range(repeats):
            t = time.process_time()
            for body, headers, _ in samples:
                fn(body, headers)
            runs.append(len(samples) / max(time.process_time() - t, 1e-9))
        return median(runs)

    def full(body: bytes, headers: dict[str, str]) -> None:
        p = parse_feed(body, headers, url)
        normalize_entries(
            p,
            feed,
            fetched_at=datetime.now(UTC),
            backfill_before=None,
        )

    items = [len(parse_feed(b, h, url).entries) for b, h, _ in samples]
    return Ceiling(
        feeds=len(samples),
        items_per_feed=statistics.mean(items),
        body_kb=statistics.median(len(b) for b, _, _ in samples) / 1024,
        gzip_kb=statistics.median(z for _, _, z in samples) / 1024,
        feedparser_per_s=rate(
            lambda b, h: feedparser.parse(b, response_headers=hdrs, sanitize_html=False, resolve_relative_uris=True)
        ),
        parse_feed_per_s=rate(lambda b, h: parse_feed(b, h, url)),
        feedparser_path_per_s=rate(lambda b, h: parse_feed(b, h, url, "feedparser")),
        fell_back=statistics.mean(fast.parse(b, h, url) is None for b, h, _ in samples),
        parse_normalize_per_s=rate(full),
    )


# ---------------------------------------------------------------- the run


@dataclass
class Config:
    feeds: int
    duration: float
    window: float
    change_fraction: float
    concurrency: int
    interval: float  # for the saturated phases
    mixed_interval: float | None  # None: from the measured capacity at --mixed-load
    mixed_load: float
    phases: list[str]
    parse_workers: int | None
    profile: Path | None
    ceiling_feeds: int
    prime_timeout: float
    workdir: Path | None


@dataclass
class Result:
    cfg: Config
    ceiling: Ceiling
    phases: dict[str, Phase]
    prime_s: float
    prime_items: int
    delays: dict[str, dict[str, float]]
    mixed_interval_s: float
    capacity_at_mix: float  # polls/s at the mixed phase's full share, from the saturated phases


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def write_feed_list(tmp: Path, base: str, n: int) -> Path:
    feeds = [{"id": f"farm-{i:05d}", "url": f"{base}/feed/{i}.xml", "name": f"Farm feed {i}"} for i in range(n)]
    path = tmp / "feeds.yaml"
    path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))
    return path


async def wait_for(cond: Any, timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(poll_s)


class Bench:
    """One benchmark run: the farm, the tap on news.raw, and poller processes started one after another."""

    def __init__(self, cfg: Config, tmp: Path, bootstrap: str, farm: FarmClient, tap: RawTap, pids: dict[str, int]):
        self.cfg = cfg
        self.tmp = tmp
        self.bootstrap = bootstrap
        self.farm = farm
        self.tap = tap
        self.pids = pids
        self.feeds_file = write_feed_list(tmp, farm.base, cfg.feeds)
        (tmp / "settings.yaml").write_text("{}\n")
        self.phases: dict[str, Phase] = {}
        self._poller: asyncio.subprocess.Process | None = None
        self._procs: Procs | None = None
        self._runs = 0

    def _env(self, interval: float) -> dict[str, str]:
        cfg = self.cfg
        extra = {
            "NEWSMON_SETTINGS_FILE": str(self.tmp / "settings.yaml"),
            "NEWSMON_KAFKA_BOOTSTRAP": self.bootstrap,
            "NEWSMON_INGEST_FEEDS_FILE": str(self.feeds_file),
            # Adaptive polling would learn the farm's backlog spacing (hours); the bounds pin feeds to the interval.
            "NEWSMON_INGEST_DEFAULT_INTERVAL_S": str(interval),
            "NEWSMON_INGEST_MIN_INTERVAL_S": str(min(interval, 0.1)),
            "NEWSMON_INGEST_MAX_INTERVAL_S": str(interval),
            "NEWSMON_INGEST_CONCURRENCY": str(cfg.concurrency),
            # Every farm feed shares one host; real feed lists spread over thousands of hosts.
            "NEWSMON_INGEST_PER_HOST": str(cfg.concurrency),
            # The farm is served on the loopback interface, which the fetch policy refuses by default.
            "NEWSMON_INGEST_ALLOW_PRIVATE_ADDRESSES": "true",
            "NEWSMON_METRICS_PORT": "0",
            "NEWSMON_LOG_LEVEL": "INFO",
            "NEWSMON_LOG_FORMAT": "json",
        }
        if cfg.parse_workers is not None:
            extra["NEWSMON_INGEST_PARSE_WORKERS"] = str(cfg.parse_workers)
        return child_env(**extra)

    @contextlib.asynccontextmanager
    async def pollers(self, interval: float) -> AsyncIterator[None]:
        """`newsmon run --stage ingest` polling every feed at `interval`; it resumes from the feed-state topic."""
        self._runs += 1
        cmd = [sys.executable, "-m", "monitor", "run", "--stage", "ingest"]
        if self.cfg.profile is not None:
            out = self.cfg.profile.resolve().with_suffix(f".{self._runs}{self.cfg.profile.suffix or '.prof'}")
            cmd[1:1] = ["-m", "cProfile", "-o", str(out)]
        log = self.tmp / "pollers.log"
        try:
            async with child(cmd, log, self._env(interval)) as proc:
                self._poller = proc
                self._procs = Procs({**self.pids, "pollers": proc.pid})
                yield
        except Exception as exc:
            raise RuntimeError(f"{exc}\npollers' log:\n{log.read_text()[-3000:]}") from exc
        finally:
            self._poller = self._procs = None

    def _alive(self) -> None:
        if self._poller is None or self._poller.returncode is not None:
            raise RuntimeError("the pollers exited")
        if self.tap.error is not None:
            raise RuntimeError(f"reading news.raw failed: {self.tap.error!r}")

    async def prime(self, backlog_items: int) -> float:
        """Wait until every feed's first poll landed in news.raw; return how long that took."""
        started = time.monotonic()

        async def primed() -> bool:
            self._alive()
            st = await self.farm.stats()
            return bool(st["served_once"] >= self.cfg.feeds and self.tap.count >= backlog_items)

        await wait_for(primed, self.cfg.prime_timeout, "every feed's first poll to land in news.raw")
        return time.monotonic() - started

    async def phase(self, name: str, window_s: float, **farm: Any) -> Phase:
        """Switch the farm (`farm`: its control fields), let one window pass, then measure."""
        await self.farm.control(phase=name, **farm)
        await self._measure(Phase("settle"), 1, window_s)
        phase = Phase(name)
        await self._measure(phase, max(3, round(self.cfg.duration / window_s)), window_s)
        self.phases[name] = phase
        return phase

    async def resumed(self) -> None:
        """Wait until restarted pollers polled every feed once: the restart's first wave is over."""
        await self.farm.control(phase="resume", change_fraction=0.0, change_on_request=False)
        started = time.monotonic()

        async def polled_all() -> bool:
            self._alive()
            return bool((await self.farm.stats())["polled_since_control"] >= self.cfg.feeds)

        await wait_for(polled_all, max(120.0, self.cfg.feeds / 5), "the restarted pollers to poll every feed")
        print(f"restarted pollers polled every feed in {time.monotonic() - started:.1f} s", file=sys.stderr)

    async def _measure(self, phase: Phase, count: int, window_s: float) -> None:
        """`count` windows, each a delta of the farm's counters, the tap's count and the processes' CPU."""
        assert self._procs is not None
        prev = await self.farm.stats()
        items = self.tap.count
        self._procs.sample()
        for _ in range(count):
            await asyncio.sleep(window_s)
            self._alive()
            cur = await self.farm.stats()
            cpu, rss, busy = self._procs.sample()
            w = Window(
                phase=phase.name,
                seconds=cur["time"] - prev["time"],
                full=cur["full"] - prev["full"],
                not_modified=cur["not_modified"] - prev["not_modified"],
                items=self.tap.count - items,
                cpu=cpu,
                rss_mb=rss,
                gap_p50_s=cur.get("gap_p50_s"),
                gap_p95_s=cur.get("gap_p95_s"),
                machine_busy=busy,
            )
            phase.windows.append(w)
            prev, items = cur, self.tap.count
            print(
                f"  {phase.name:11} full/s {w.rate(w.full):7.1f}  304/s {w.rate(w.not_modified):7.1f}  items/s "
                f"{w.rate(w.items):7.1f}  pollers {w.cpu['pollers']:.2f} cores {w.rss_mb['pollers']:.0f} MB  "
                f"farm {w.cpu['farm']:.2f}  broker {w.cpu['broker']:.2f}  machine {w.machine_busy:.0%}  "
                f"gap p50 {w.gap_p50_s or 0:.2f} s",
                file=sys.stderr,
            )

    async def drain(self, timeout_s: float) -> dict[str, dict[str, float]]:
        """Stop changing feeds, let the stories already published land, and return the delays per phase."""
        await self.farm.control(phase="drain", change_fraction=0.0)
        stories = await self.farm.stories()

        async def landed() -> bool:
            self._alive()
            return all(k in self.tap.landed for k in stories)

        with contextlib.suppress(RuntimeError):
            await wait_for(landed, timeout_s, "the last stories to land")
        return _delays(stories, self.tap.landed)


def capacity_at(full_share: float, phases: dict[str, Phase]) -> float:
    """Polls/s the pollers sustain at this share of full polls, from the saturated phases' costs in wall time."""
    cond, full = phases["conditional"], phases["full"]
    t_cond = 1 / max(cond.med(lambda w: w.rate(w.not_modified)), 1e-9)
    t_full = 1 / max(full.med(lambda w: w.rate(w.full)), 1e-9)
    return 1 / (full_share * t_full + (1 - full_share) * t_cond)


async def run(cfg: Config, bootstrap: str, broker_pid: int) -> Result:
    topics = TopicSettings()
    await ensure_topics(KafkaSettings(bootstrap=bootstrap), topic_specs(topics), 1)
    with contextlib.ExitStack() as stack:
        if cfg.workdir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsmon-bench-ingest-")))
        else:
            tmp = cfg.workdir
            tmp.mkdir(parents=True, exist_ok=True)
        farm_cmd = [sys.executable, "-m", "bench.feedfarm", "--feeds", str(cfg.feeds), "--round", "1"]
        async with child(farm_cmd, tmp / "farm.log", child_env()) as farm_proc:
            assert farm_proc.stdout is not None
            line = await asyncio.wait_for(farm_proc.stdout.readline(), 600)
            if not line:
                raise RuntimeError("the farm did not start:\n" + (tmp / "farm.log").read_text()[-3000:])
            hello = json.loads(line)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                farm = FarmClient(session, f"http://127.0.0.1:{hello['port']}")
                samples = [await farm.body(i) for i in range(min(cfg.feeds, cfg.ceiling_feeds))]
                bodies = [(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b, h, z) for b, h, z in samples]
                ceiling = measure_ceiling(bodies, farm.base, 3)
                print(f"parse ceiling: {ceiling.parse_feed_per_s:.1f} feeds/s", file=sys.stderr)
                await farm.control(phase="prime", change_fraction=0.0, round_s=1.0)
                tap = RawTap(bootstrap, topics.raw)
                await tap.start()
                try:
                    bench = Bench(
                        cfg,
                        tmp,
                        bootstrap,
                        farm,
                        tap,
                        {"farm": farm_proc.pid, "broker": broker_pid},
                    )
                    return await _run_phases(bench, ceiling, hello["items"])
                finally:
                    await tap.stop()


async def _run_phases(bench: Bench, ceiling: Ceiling, backlog_items: int) -> Result:
    cfg = bench.cfg
    saturated = [p for p in cfg.phases if p != "mixed"]
    mixed_interval, capacity, prime_s = cfg.mixed_interval or 0.0, 0.0, 0.0
    delays: dict[str, dict[str, float]] = {}
    if saturated:
        async with bench.pollers(cfg.interval):
            prime_s = await bench.prime(backlog_items)
            print(f"primed {cfg.feeds} feeds in {prime_s:.1f} s ({bench.tap.count} items)", file=sys.stderr)
            for name in saturated:
                full = name == "full"
                await bench.phase(name, cfg.window, change_fraction=0.0, change_on_request=full)
            if "mixed" not in cfg.phases:
                delays = await bench.drain(30.0)
    if "mixed" in cfg.phases:
        f = cfg.change_fraction
        if {"conditional", "full"} <= bench.phases.keys():
            capacity = capacity_at(f, bench.phases)
            if cfg.mixed_interval is None:
                mixed_interval = max(1.0, cfg.feeds / (capacity * cfg.mixed_load))
        if not mixed_interval:
            raise RuntimeError("the mixed phase needs --mixed-interval unless the conditional and full phases run")
        # Not saturated: every feed is due once per interval and a round lasts one interval, as in a deployment.
        async with bench.pollers(mixed_interval):
            if not saturated:
                prime_s = await bench.prime(backlog_items)
            else:
                await bench.resumed()
            # Polls come in waves once per interval, so a window is one round (at least --window).
            window = max(cfg.window, mixed_interval)
            await bench.phase("mixed", window, change_fraction=f, change_on_request=False, round_s=mixed_interval)
            delays = await bench.drain(max(30.0, 3 * mixed_interval))
    return Result(cfg, ceiling, bench.phases, prime_s, backlog_items, delays, mixed_interval, capacity)


def _delays(
    stories: dict[int, tuple[str, float, float | None]], landed: dict[int, float]
) -> dict[str, dict[str, float]]:
    """Per phase: published->landed and first served->landed percentiles, and stories that never landed."""
    pub: dict[str, list[float]] = {}
    srv: dict[str, list[float]] = {}
    counts: dict[str, list[int]] = {}
    for key, (phase, published, served) in stories.items():
        n = counts.setdefault(phase, [0, 0])
        n[0] += 1
        at = landed.get(key)
        if at is None:
            n[1] += 1
            continue
        pub.setdefault(phase, []).append(at - published)
        if served is not None:
            srv.setdefault(phase, []).append(at - served)
    return {
        phase: {
            "stories": n,
            "missing": missing,
            "pub_p50": _pct(pub.get(phase, []), 0.5),
            "pub_p95": _pct(pub.get(phase, []), 0.95),
            "srv_p50": _pct(srv.get(phase, []), 0.5),
            "srv_p95": _pct(srv.get(phase, []), 0.95),
        }
        for phase, (n, missing) in counts.items()
    }


# ---------------------------------------------------------------- report


def _row(name: str, ph: Phase) -> str:
    return (
        f"  {name:12} {ph.med(lambda w: w.rate(w.full)):7.1f} {ph.med(lambda w: w.rate(w.not_modified)):7.1f} "
        f"{ph.med(lambda w: w.rate(w.items)):8.1f} {ph.med(lambda w: w.cpu['pollers']):8.2f} "
        f"{max(w.rss_mb['pollers'] for w in ph.windows):7.0f} {ph.med(lambda w: w.cpu['farm']):6.2f} "
        f"{ph.med(lambda w: w.cpu['broker']):7.2f} {ph.med(lambda w: w.machine_busy):8.0%} "
        f"{ph.med(lambda w: w.gap_p50_s):8.2f} {ph.med(lambda w: w.gap_p95_s):8.2f}"
    )


def _workers(cfg: Config) -> str:
    return "default" if cfg.parse_workers is None else str(cfg.parse_workers)


def report(r: Result) -> None:
    c, cfg = r.ceiling, r.cfg
    print(
        f"ingestion: {cfg.feeds} feeds of {c.items_per_feed:.0f} items ({c.body_kb:.0f} KB, {c.gzip_kb:.1f} KB "
        f"gzip), concurrency {cfg.concurrency}, parse_workers {_workers(cfg)}, "
        f"{psutil.cpu_count()} cores shared by pollers, farm and broker; medians over {cfg.window:g} s windows"
    )
    print(
        f"parse ceiling, one process, {c.feeds} farm bodies (CPU time, median of 3): feedparser.parse "
        f"{c.feedparser_per_s:.1f} feeds/s ({c.feedparser_per_s * c.items_per_feed:.0f} items/s); "
        f"parse_feed {c.parse_feed_per_s:.1f}/s; parse_feed + normalize {c.parse_normalize_per_s:.1f}/s"
    )
    print(
        f"parse_feed per feed: feedparser {1000 / c.feedparser_path_per_s:.2f} ms, fast path (auto) "
        f"{1000 / c.parse_feed_per_s:.2f} ms; {c.fell_back:.0%} of the farm's feeds fell back to feedparser"
    )
    if r.prime_s:
        print(
            f"prime: {cfg.feeds} first polls in {r.prime_s:.1f} s = {cfg.feeds / r.prime_s:.1f} polls/s, "
            f"{r.prime_items} backlog items = {r.prime_items / r.prime_s:.0f} items/s"
        )
    print(
        f"  {'phase':12} {'full/s':>7} {'304/s':>7} {'items/s':>8} {'pollers':>8} {'RSS MB':>7} {'farm':>6} "
        f"{'broker':>7} {'machine':>8} {'gap p50':>8} {'gap p95':>8}"
    )
    for name, ph in r.phases.items():
        print(_row(name, ph))
    print("  (pollers, farm, broker: cores used; RSS: max of the pollers and their parse workers; gap: between two")
    print("   polls of one feed; conditional and full saturate the pollers, mixed polls every feed once per interval)")
    for phase, d in r.delays.items():
        if phase in r.phases:
            print(
                f"  delays {phase:11} {d['stories']:.0f} stories ({d['missing']:.0f} not landed): "
                f"published->Kafka p50 {d['pub_p50']:.2f} s p95 {d['pub_p95']:.2f} s; "
                f"first served->Kafka p50 {d['srv_p50']:.2f} s p95 {d['srv_p95']:.2f} s"
            )
    print("targets:")
    cond, full, mixed = r.phases.get("conditional"), r.phases.get("full"), r.phases.get("mixed")
    if cond is not None and full is not None:
        cap = capacity_at(0.1, r.phases)
        print(
            f"  capacity at 10% changed (from the saturated phases): {cap:.0f} polls/s = {0.1 * cap:.1f} full/s "
            f"({0.1 * cap / TARGET_FULL:.0%} of {TARGET_FULL:.0f}) + {0.9 * cap:.0f} conditional/s "
            f"({0.9 * cap / TARGET_304:.0%} of {TARGET_304:.0f})"
        )
    if cond is not None:
        n = cond.med(lambda w: w.rate(w.not_modified))
        per_core = cond.med(lambda w: w.not_modified / max(w.cpu["pollers"] * w.seconds, 1e-9))
        print(
            f"  conditional alone: {n:.0f} polls/s ({n / TARGET_304:.0%} of {TARGET_304:.0f}); "
            f"{1000 / per_core:.2f} ms of pollers' CPU per 304"
        )
    if full is not None:
        f = full.med(lambda w: w.rate(w.full))
        per_core = full.med(lambda w: w.full / max(w.cpu["pollers"] * w.seconds, 1e-9))
        print(
            f"  full alone: {f:.1f} polls/s ({f / TARGET_FULL:.0%} of {TARGET_FULL:.0f}) = "
            f"{f / c.parse_feed_per_s:.0%} of the parse ceiling {c.parse_feed_per_s:.1f}/s "
            f"(target >= {TARGET_CEILING_SHARE:.0%}); {1000 / per_core:.1f} ms of pollers' CPU per full poll "
            f"(target <= {TARGET_FULL_CPU_MS:.0f})"
        )
        print(
            f"  {TARGET_FULL:.0f} full polls/s need {TARGET_FULL / c.parse_feed_per_s:.1f} cores for parse_feed alone, "
            f"{TARGET_FULL / per_core:.1f} cores at the pollers' measured cost"
        )
    if mixed is not None:
        f, n = mixed.med(lambda w: w.rate(w.full)), mixed.med(lambda w: w.rate(w.not_modified))
        gap = mixed.med(lambda w: w.gap_p50_s)
        demand = cfg.feeds / r.mixed_interval_s
        kept_up = gap < 1.2 * r.mixed_interval_s
        print(
            f"  mixed: interval {r.mixed_interval_s:.2f} s = {demand:.0f} polls/s asked, {f + n:.0f} done "
            f"({f / max(f + n, 1e-9):.0%} full), poll gap p50 {gap:.2f} s: "
            f"{'kept up' if kept_up else 'fell behind'}"
        )
        md = r.delays.get("mixed")
        if md:
            limit = r.mixed_interval_s + 1
            print(
                f"  mixed p95 published->Kafka {md['pub_p95']:.2f} s vs interval + 1 s = {limit:.2f} s "
                f"({'met' if md['pub_p95'] < limit else 'missed'})"
            )
    rss = max(w.rss_mb["pollers"] for ph in r.phases.values() for w in ph.windows)
    main_rss = max(w.rss_mb["pollers_main"] for ph in r.phases.values() for w in ph.windows)
    print(
        f"  pollers' max RSS {rss:.0f} MB with {cfg.feeds} feeds: poller {main_rss:.0f} MB + parse workers "
        f"{rss - main_rss:.0f} MB (target < {TARGET_RSS_MB:.0f} MB for 10,000 feeds)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--feeds", type=int, default=None, help="feeds served and polled (default 2000)")
    ap.add_argument("--duration", type=float, default=None, help="seconds measured per phase (default 30)")
    ap.add_argument("--window", type=float, default=None, help="seconds per measurement window (default 5)")
    ap.add_argument("--change-fraction", type=float, default=0.1, help="share of feeds changed per round (mixed)")
    ap.add_argument("--concurrency", type=int, default=64, help="ingest.concurrency of the pollers")
    ap.add_argument("--interval", type=float, default=0.1, help="poll interval in the saturated phases, seconds")
    ap.add_argument("--mixed-interval", type=float, default=None, help="poll interval in the mixed phase, seconds")
    ap.add_argument("--mixed-load", type=float, default=0.7, help="mixed phase asks this share of the capacity")
    ap.add_argument("--phases", default="conditional,full,mixed", help="comma-separated, in order")
    ap.add_argument("--parse-workers", type=int, default=None, help="ingest.parse_workers (default: the setting's)")
    ap.add_argument("--profile", type=Path, default=None, help="run the pollers under cProfile, stats to PATH.N")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the feed list and logs here (default: temp)")
    ap.add_argument("--quick", action="store_true", help="300 feeds, 10 s phases, 2 s windows")
    ap.add_argument("--memory", action="store_true", help="10,000 feeds, conditional phase only: resident memory")
    args = ap.parse_args()
    feeds, duration, window, phases = 2000, 30.0, 5.0, args.phases
    if args.quick:
        feeds, duration, window = 300, 10.0, 2.0
    if args.memory:
        feeds, phases = 10_000, "conditional"
    n = args.feeds or feeds
    cfg = Config(
        feeds=n,
        duration=args.duration or duration,
        window=args.window or window,
        change_fraction=args.change_fraction,
        concurrency=args.concurrency,
        interval=args.interval,
        mixed_interval=args.mixed_interval,
        mixed_load=args.mixed_load,
        phases=[p.strip() for p in phases.split(",") if p.strip()],
        parse_workers=args.parse_workers,
        profile=args.profile,
        ceiling_feeds=100 if args.quick else 300,
        prime_timeout=600 + n * 0.2,
        workdir=args.workdir,
    )
    unknown = set(cfg.phases) - {"conditional", "full", "mixed"}
    if unknown:
        ap.error(f"unknown phase {', '.join(sorted(unknown))}")
    if "mixed" in cfg.phases and cfg.phases[-1] != "mixed":
        ap.error("mixed must be the last phase (it restarts the pollers at a slower interval)")
    with throwaway_broker() as broker:
        pid = broker.status().pid
        if pid is None:
            sys.exit("the throwaway broker has no pid")
        result = asyncio.run(run(cfg, broker.bootstrap, pid))
    report(result)


if __name__ == "__main__":
    main()
