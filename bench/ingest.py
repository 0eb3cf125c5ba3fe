"""Ingestion benchmark: the real pollers (`newsmon run --stage ingest`) against a local feed farm and a throwaway
broker, all on this machine's cores. Prints full polls/s, conditional (304) polls/s, items/s into news.raw, the
delay from a story being published (and first served) to it landing in Kafka, the pollers' CPU and memory, and
feedparser's own parse rate on the same bodies as the ceiling.

Phases, with the pollers saturated (interval far below what they can reach):
  prime        every feed's first poll (its whole backlog is produced);
  conditional  no feed changes: every poll is a 304;
  mixed        --change-fraction of the feeds change per round, the round following the measured poll cycle;
  full         every feed changes between two of its polls: every poll is a 200 with 1-3 new stories.
Each phase is measured after every feed was polled once in it, so the previous phase's changes are gone.

Run: .venv/bin/python -m bench.ingest [--feeds 2000] [--duration 30] [--change-fraction 0.1] [--quick]
     .venv/bin/python -m bench.ingest --memory        (resident memory with 10,000 feeds)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gzip
import json
import os
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
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parser import parse_feed
from monitor.settings import TopicSettings
from monitor.topics import ensure_topics, topic_specs

TARGET_FULL = 150.0
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
    parse_feed_per_s: float
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

    def _rss_mb(self, proc: psutil.Process) -> float:
        total = 0
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / 2**20

    def sample(self) -> tuple[dict[str, float], dict[str, float], float]:
        now = time.monotonic()
        elapsed = max(now - self._t, 1e-9)
        cpu, rss = {}, {}
        for name, proc in self._procs.items():
            used = self._cpu(proc)
            cpu[name] = (used - self._last.get(name, used)) / elapsed
            self._last[name] = used
            rss[name] = self._rss_mb(proc)
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
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        # Without a group the consumer takes every partition of the topic, from the oldest record.
        self._consumer.subscribe([self._topic])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.time()
            for records in batch.values():
                for rec in records:
                    self.count += 1
                    m = _STORY_ID.search(json.loads(rec.value)["url"])
                    if m:
                        self.landed.setdefault(int(m.group(1)), now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


# ---------------------------------------------------------------- the farm


class FarmClient:
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
    """Parse the farm's own bodies in this one process: feedparser alone, parse_feed, and parse plus normalize."""
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
        normalize_entries(p.entries, feed, feed_lang=p.lang, fetched_at=datetime.now(UTC), backfill_before=None)

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
    interval: float
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
    prime_polls: int
    prime_items: int
    delays: dict[str, dict[str, float]]
    mixed_round_s: float


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


def poller_env(cfg: Config, bootstrap: str, feeds_file: Path, settings_file: Path) -> dict[str, str]:
    extra = {
        "NEWSMON_SETTINGS_FILE": str(settings_file),
        "NEWSMON_KAFKA_BOOTSTRAP": bootstrap,
        "NEWSMON_INGEST_FEEDS_FILE": str(feeds_file),
        "NEWSMON_INGEST_DEFAULT_INTERVAL_S": str(cfg.interval),
        # Adaptive polling would learn the farm's backlog spacing (hours); the bounds pin every feed to the interval.
        "NEWSMON_INGEST_MIN_INTERVAL_S": str(min(cfg.interval, 0.1)),
        "NEWSMON_INGEST_MAX_INTERVAL_S": str(cfg.interval),
        "NEWSMON_METRICS_PORT": "0",
        "NEWSMON_INGEST_CONCURRENCY": str(cfg.concurrency),
        # Every farm feed shares one host; real feed lists spread over thousands of hosts.
        "NEWSMON_INGEST_PER_HOST": str(cfg.concurrency),
        "NEWSMON_LOG_LEVEL": "INFO",
        "NEWSMON_LOG_FORMAT": "json",
    }
    if cfg.parse_workers is not None:
        extra["NEWSMON_INGEST_PARSE_WORKERS"] = str(cfg.parse_workers)
    return child_env(**extra)


async def wait_for(cond: Any, timeout_s: float, what: str, poll_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(poll_s)


async def measure_windows(
    phase: Phase, farm: FarmClient, tap: RawTap, procs: Procs, count: int, window_s: float, *, follow: bool = False
) -> None:
    """`count` windows of `window_s`, each a delta of the farm's counters, the tap's count and CPU.

    With `follow`, the farm's round is set to the poll cycle after every window, so that a feed changes with the
    asked probability between two of its polls however fast the pollers go.
    """
    prev = await farm.stats()
    items = tap.count
    procs.sample()
    for _ in range(count):
        await asyncio.sleep(window_s)
        cur = await farm.stats()
        cpu, rss, busy = procs.sample()
        phase.windows.append(
            Window(
                phase=phase.name,
                seconds=cur["time"] - prev["time"],
                full=cur["full"] - prev["full"],
                not_modified=cur["not_modified"] - prev["not_modified"],
                items=tap.count - items,
                cpu=cpu,
                rss_mb=rss,
                gap_p50_s=cur.get("gap_p50_s"),
                gap_p95_s=cur.get("gap_p95_s"),
                machine_busy=busy,
            )
        )
        prev, items = cur, tap.count
        if follow and cur.get("gap_p50_s"):
            await farm.control(round_s=cur["gap_p50_s"])
        w = phase.windows[-1]
        print(
            f"  {phase.name:11} full/s {w.rate(w.full):7.1f}  304/s {w.rate(w.not_modified):7.1f}  items/s "
            f"{w.rate(w.items):7.1f}  pollers {w.cpu['pollers']:.2f} cores {w.rss_mb['pollers']:.0f} MB  "
            f"farm {w.cpu['farm']:.2f}  broker {w.cpu['broker']:.2f}  machine {w.machine_busy:.0%}",
            file=sys.stderr,
        )


async def run(cfg: Config, bootstrap: str, broker_pid: int) -> Result:
    topics = TopicSettings()
    await ensure_topics(bootstrap, topic_specs(topics), 1)
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
            base = f"http://127.0.0.1:{hello['port']}"
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                farm = FarmClient(session, base)
                samples = [await farm.body(i) for i in range(min(cfg.feeds, cfg.ceiling_feeds))]
                ceiling = measure_ceiling(
                    [(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b, h, z) for b, h, z in samples], base, 3
                )
                print(f"parse ceiling: {ceiling.parse_feed_per_s:.1f} feeds/s", file=sys.stderr)
                await farm.control(phase="prime", change_fraction=0.0, round_s=1.0)
                start = await farm.stats()  # the ceiling's own fetches are not polls
                tap = RawTap(bootstrap, topics.raw)
                await tap.start()
                feeds_file = write_feed_list(tmp, base, cfg.feeds)
                (tmp / "settings.yaml").write_text("{}\n")
                cmd = [sys.executable, "-m", "monitor", "run", "--stage", "ingest"]
                if cfg.profile is not None:
                    cmd[1:1] = ["-m", "cProfile", "-o", str(cfg.profile.resolve())]
                env = poller_env(cfg, bootstrap, feeds_file, tmp / "settings.yaml")
                try:
                    async with child(cmd, tmp / "pollers.log", env) as poller:
                        return await _phases(
                            cfg, farm, tap, poller, farm_proc.pid, broker_pid, start, ceiling, hello["items"]
                        )
                except Exception as exc:
                    raise RuntimeError(f"{exc}\npollers' log:\n{(tmp / 'pollers.log').read_text()[-3000:]}") from exc
                finally:
                    await tap.stop()


async def _phases(
    cfg: Config,
    farm: FarmClient,
    tap: RawTap,
    poller: asyncio.subprocess.Process,
    farm_pid: int,
    broker_pid: int,
    start: dict[str, Any],
    ceiling: Ceiling,
    backlog_items: int,
) -> Result:
    procs = Procs({"pollers": poller.pid, "farm": farm_pid, "broker": broker_pid, "bench": os.getpid()})
    t0 = time.monotonic()

    async def primed() -> bool:
        if poller.returncode is not None:
            raise RuntimeError(f"the pollers exited with {poller.returncode}")
        st = await farm.stats()
        return bool(st["served_once"] >= cfg.feeds and tap.count >= backlog_items)

    await wait_for(primed, cfg.prime_timeout, "every feed's first poll to land in news.raw")
    prime_s = time.monotonic() - t0
    st = await farm.stats()
    prime_polls = st["full"] - start["full"]
    print(f"primed {cfg.feeds} feeds in {prime_s:.1f} s ({tap.count} items)", file=sys.stderr)

    phases: dict[str, Phase] = {}
    windows = max(1, round(cfg.duration / cfg.window))
    mixed_round = cfg.interval
    settle_timeout = max(60.0, cfg.feeds / 5)
    prime_rate = prime_polls / prime_s
    for name in cfg.phases:
        phase = Phase(name)
        follow = name == "mixed"
        if name == "conditional":
            await farm.control(phase=name, change_fraction=0.0, round_s=1.0)
        elif name == "full":
            # Each round changes every feed fetched since its last change, so every poll finds 1-3 new stories.
            await farm.control(phase=name, change_fraction=1.0, round_s=0.5)
        else:
            mixed_round = _mixed_round(cfg, phases, prime_rate)
            await farm.control(phase=name, change_fraction=cfg.change_fraction, round_s=mixed_round)
        # The previous phase's changes are gone only once every feed has been polled again.
        settle_t = time.monotonic()
        await wait_for(
            functools.partial(_settled, farm, cfg.feeds, poller, follow), settle_timeout, f"a full cycle of {name}"
        )
        await measure_windows(Phase("settle"), farm, tap, procs, 1, cfg.window, follow=follow)
        print(f"  {name}: every feed polled once in {time.monotonic() - settle_t:.1f} s", file=sys.stderr)
        await measure_windows(phase, farm, tap, procs, windows, cfg.window, follow=follow)
        phases[name] = phase

    # Stories published near the end are still fetched and produced before the delays are taken.
    await farm.control(phase="drain", change_fraction=0.0)
    stories = await farm.stories()

    async def drained() -> bool:
        return all(k in tap.landed for k in stories)

    with contextlib.suppress(RuntimeError):
        await wait_for(drained, settle_timeout, "the last stories to land")
    return Result(cfg, ceiling, phases, prime_s, prime_polls, backlog_items, _delays(stories, tap.landed), mixed_round)


async def _settled(farm: FarmClient, feeds: int, poller: asyncio.subprocess.Process, follow: bool) -> bool:
    """True once every feed was polled since the phase began; with `follow`, the round tracks the cycle meanwhile."""
    if poller.returncode is not None:
        raise RuntimeError(f"the pollers exited with {poller.returncode}")
    st = await farm.stats()
    if follow and st.get("gap_p50_s"):
        await farm.control(round_s=st["gap_p50_s"])
    return bool(st["polled_since_control"] >= feeds)


def _mixed_round(cfg: Config, phases: dict[str, Phase], prime_rate: float) -> float:
    """The poll cycle at the mixed load, predicted from the pure phases (a first poll stands in for a full one)."""
    cond, full = phases.get("conditional"), phases.get("full")
    if cond is None:
        return cfg.interval
    t_cond = 1 / max(cond.med(lambda w: w.rate(w.not_modified)), 1e-9)
    t_full = 1 / max(full.med(lambda w: w.rate(w.full)) if full is not None else prime_rate, 1e-9)
    f = cfg.change_fraction
    return max(cfg.interval, cfg.feeds * (f * t_full + (1 - f) * t_cond))


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


def report(r: Result) -> None:
    c, cfg = r.ceiling, r.cfg
    print(
        f"ingestion: {cfg.feeds} feeds of {c.items_per_feed:.0f} items ({c.body_kb:.0f} KB, {c.gzip_kb:.1f} KB "
        f"gzip), concurrency {cfg.concurrency}, {psutil.cpu_count()} cores shared by pollers, farm and broker, "
        f"windows of {cfg.window:g} s, medians over windows"
    )
    print(
        f"parse ceiling, one process, {c.feeds} farm bodies (median of 3): feedparser.parse {c.feedparser_per_s:.1f} "
        f"feeds/s ({c.feedparser_per_s * c.items_per_feed:.0f} items/s); parse_feed {c.parse_feed_per_s:.1f}/s; "
        f"parse_feed + normalize {c.parse_normalize_per_s:.1f}/s"
    )
    print(
        f"prime: {cfg.feeds} first polls in {r.prime_s:.1f} s = {cfg.feeds / r.prime_s:.1f} polls/s, "
        f"{r.prime_items} backlog items = {r.prime_items / r.prime_s:.0f} items/s"
    )
    hdr = (
        f"  {'phase':12} {'full/s':>7} {'304/s':>7} {'items/s':>8} {'pollers':>8} {'RSS MB':>7} {'farm':>6} "
        f"{'broker':>7} {'machine':>8} {'gap p50':>8} {'gap p95':>8}"
    )
    print(hdr)
    for name, ph in r.phases.items():
        print(
            f"  {name:12} {ph.med(lambda w: w.rate(w.full)):7.1f} {ph.med(lambda w: w.rate(w.not_modified)):7.1f} "
            f"{ph.med(lambda w: w.rate(w.items)):8.1f} {ph.med(lambda w: w.cpu['pollers']):8.2f} "
            f"{max(w.rss_mb['pollers'] for w in ph.windows):7.0f} {ph.med(lambda w: w.cpu['farm']):6.2f} "
            f"{ph.med(lambda w: w.cpu['broker']):7.2f} {ph.med(lambda w: w.machine_busy):8.0%} "
            f"{ph.med(lambda w: w.gap_p50_s):8.2f} {ph.med(lambda w: w.gap_p95_s):8.2f}"
        )
    print(
        "  (pollers/farm/broker: cores used; RSS: max of the pollers' processes; gap: time between two polls of a feed)"
    )
    for phase, d in r.delays.items():
        if phase in r.phases:
            print(
                f"  delays {phase:11} {d['stories']:.0f} stories ({d['missing']:.0f} not landed): "
                f"published->Kafka p50 {d['pub_p50']:.2f} s p95 {d['pub_p95']:.2f} s; "
                f"first served->Kafka p50 {d['srv_p50']:.2f} s p95 {d['srv_p95']:.2f} s"
            )
    print("targets:")
    full_phase, mixed = r.phases.get("full"), r.phases.get("mixed")
    if mixed is not None:
        f, n = mixed.med(lambda w: w.rate(w.full)), mixed.med(lambda w: w.rate(w.not_modified))
        share = f / max(f + n, 1e-9)
        print(
            f"  mixed load ({share:.0%} of polls full): full polls/s {f:.1f} / {TARGET_FULL:.0f} = "
            f"{f / TARGET_FULL:.0%};  conditional polls/s {n:.0f} / {TARGET_304:.0f} = {n / TARGET_304:.0%}"
        )
        md = r.delays.get("mixed")
        gap = mixed.med(lambda w: w.gap_p50_s)
        if md:
            print(
                f"  mixed p95 published->Kafka {md['pub_p95']:.2f} s vs one poll cycle + 1 s = {gap + 1:.2f} s "
                f"({'met' if md['pub_p95'] < gap + 1 else 'missed'}); starting farm round {r.mixed_round_s:.2f} s"
            )
    if full_phase is not None:
        f = full_phase.med(lambda w: w.rate(w.full))
        per_core = full_phase.med(lambda w: w.full / max(w.cpu["pollers"] * w.seconds, 1e-9))
        print(
            f"  full polls/s {f:.1f} vs parse ceiling {c.parse_feed_per_s:.1f}/s = {f / c.parse_feed_per_s:.0%} "
            f"(target >= {TARGET_CEILING_SHARE:.0%}); per core-second of the pollers {per_core:.1f} = "
            f"{per_core / c.parse_feed_per_s:.0%} of the ceiling ({1000 / per_core:.0f} ms CPU per full poll)"
        )
        print(
            f"  {TARGET_FULL:.0f} full polls/s need {TARGET_FULL / c.parse_feed_per_s:.1f} cores for parse_feed alone, "
            f"{TARGET_FULL / per_core:.1f} cores at the pollers' measured cost"
        )
    if "conditional" in r.phases:
        cond = r.phases["conditional"]
        n = cond.med(lambda w: w.rate(w.not_modified))
        per_core = cond.med(lambda w: w.not_modified / max(w.cpu["pollers"] * w.seconds, 1e-9))
        print(
            f"  conditional only: {n:.0f} polls/s / {TARGET_304:.0f} = {n / TARGET_304:.0%}; "
            f"{1000 / per_core:.2f} ms pollers' CPU per 304 ({TARGET_304 / per_core:.2f} cores for {TARGET_304:.0f}/s)"
        )
    rss = max(w.rss_mb["pollers"] for ph in r.phases.values() for w in ph.windows)
    print(
        f"  pollers' max RSS {rss:.0f} MB with {cfg.feeds} feeds (target < {TARGET_RSS_MB:.0f} MB for 10,000; "
        f"{rss / cfg.feeds * 1024:.1f} KB per feed)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--feeds", type=int, default=None, help="feeds served and polled (default 2000)")
    ap.add_argument("--duration", type=float, default=None, help="seconds measured per phase (default 30)")
    ap.add_argument("--window", type=float, default=None, help="seconds per measurement window (default 5)")
    ap.add_argument("--change-fraction", type=float, default=0.1, help="share of feeds changed per round (mixed)")
    ap.add_argument("--concurrency", type=int, default=64, help="ingest.concurrency of the pollers")
    ap.add_argument("--interval", type=float, default=0.1, help="poll interval given to the pollers, seconds")
    ap.add_argument("--phases", default="conditional,mixed,full", help="comma-separated, in order")
    ap.add_argument("--parse-workers", type=int, default=None, help="ingest.parse_workers (default: the setting's)")
    ap.add_argument("--profile", type=Path, default=None, help="run the pollers under cProfile, write stats here")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the feed list and logs here (default: temp)")
    ap.add_argument("--quick", action="store_true", help="300 feeds, 10 s phases, 2 s windows")
    ap.add_argument("--memory", action="store_true", help="10,000 feeds, mixed phase only: resident memory")
    args = ap.parse_args()
    feeds, duration, window, phases = 2000, 30.0, 5.0, args.phases
    if args.quick:
        feeds, duration, window = 300, 10.0, 2.0
    if args.memory:
        feeds, phases = 10_000, "mixed"
    cfg = Config(
        feeds=args.feeds or feeds,
        duration=args.duration or duration,
        window=args.window or window,
        change_fraction=args.change_fraction,
        concurrency=args.concurrency,
        interval=args.interval,
        phases=[p.strip() for p in phases.split(",") if p.strip()],
        parse_workers=args.parse_workers,
        profile=args.profile,
        ceiling_feeds=100 if args.quick else 300,
        prime_timeout=600 + (args.feeds or feeds) * 0.2,
        workdir=args.workdir,
    )
    unknown = set(cfg.phases) - {"conditional", "full", "mixed"}
    if unknown:
        ap.error(f"unknown phase {', '.join(sorted(unknown))}")
    with throwaway_broker() as broker:
        pid = broker.status().pid
        if pid is None:
            sys.exit("the throwaway broker has no pid")
        result = asyncio.run(run(cfg, broker.bootstrap, pid))
    report(result)


if __name__ == "__main__":
    main()
