"""End-to-end benchmark: feed farm -> `newsmon run` (every stage in one process) -> webhook receiver, on this
machine's cores with a throwaway broker. Prints the delay from a story first being served by its feed to its alert
arriving at the receiver (p50, p95, p99), the same from the story's publication (which adds the poll wait), the
rates reached, and the resident memory of `newsmon run` in steady state.

Every new story alerts (a rule at score 0), so every story measured has a latency; the backlog each feed lists
at its first poll (30-60 stories a feed) is backfill and raises none, but is classified before measuring starts.

Run: .venv/bin/python -m bench.e2e [--feeds 1000] [--interval 5] [--rate 200] [--duration 60] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.common import HookReceiver, child_env, median, throwaway_broker, write_hook_rules
from bench.feedfarm import ID_DIGITS
from bench.ingest import FarmClient, child, write_feed_list
from monitor.broker.local import free_port
from monitor.settings import KafkaSettings, TopicSettings
from monitor.stream.reader import TopicReader
from monitor.topics import ensure_topics, topic_specs

TARGET_P95_S = 1.0
TARGET_P99_S = 2.0
TARGET_RSS_MB = 400.0
# A farm change adds 1, 1, 1, 2, 2 or 3 stories: 5/3 on average.
STORIES_PER_CHANGE = 5 / 3
_STORY = re.compile(rf"-(\d{{{ID_DIGITS}}})(?:[/?]|$)")


def farm_story(alert: dict[str, Any]) -> int | None:
    """The farm's number of the story an alert is about, from its link."""
    m = _STORY.search(alert["story"]["url"])
    return int(m.group(1)) if m else None


def write_config(
    tmp: Path, bootstrap: str, hook: str, feeds_file: Path, interval: float, ops_port: int, scoring_workers: int
) -> Path:
    rules = write_hook_rules(tmp, hook, {"id": "everything", "labels": {"cross_border_incident": 0.0}})
    cfg = {
        "kafka": {"bootstrap": bootstrap},
        # Adaptive polling would learn the farm's backlog spacing (hours); the bounds pin every feed to the interval.
        "ingest": {
            "feeds_file": str(feeds_file),
            "default_interval_s": interval,
            "min_interval_s": interval,
            "max_interval_s": interval,
            "allow_private_addresses": True,
            "per_host": 64,
        },
        "alerts": {"rules_file": str(rules)},
        "classifier": {"workers": scoring_workers},
        "log": {"level": "WARNING", "format": "json"},
        "metrics": {"port": ops_port, "lag_interval_s": 1.0},
    }
    (tmp / "settings.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "settings.yaml"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def memory_mb(pid: int) -> tuple[float, float, float]:
    """Resident memory in MB of the process alone, and with its children (the ingest process, scoring and parse
    workers) as the sum of their resident sizes and of their proportional sizes (shared pages counted once, split)."""
    procs = memory_by_process(pid)
    return procs[0][1], sum(rss for _, rss, _ in procs), sum(pss for _, _, pss in procs)


def memory_by_process(pid: int) -> list[tuple[str, float, float]]:
    """(process, resident MB, proportional MB) of `newsmon run` and each of its descendants."""
    proc = psutil.Process(pid)
    out = []
    for p in [proc, *proc.children(recursive=True)]:
        full = p.memory_full_info()
        out.append((_role(p), full.rss / 1e6, full.pss / 1e6))
    return out


def _role(p: psutil.Process) -> str:
    cmd = " ".join(p.cmdline())
    if "multiprocessing" not in cmd:
        return f"newsmon run ({p.pid})"
    # A spawned process: the ingest child, or a worker of a pool, named by its parent's role.
    return f"child of {p.ppid()} ({p.pid})"


@dataclass
class Result:
    stories: int
    alerted: int
    seconds: float
    served_p: tuple[float, float, float]
    published_p: tuple[float, float, float]
    rss_main_mb: float
    rss_total_mb: float
    pss_total_mb: float
    polls_per_s: float
    # Per hop, p50/p95/p99 seconds: where the served -> webhook time goes.
    hops: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    # The last memory sample, per process.
    processes: list[tuple[str, float, float]] = field(default_factory=list)

    def print(self) -> None:
        s, p = self.served_p, self.published_p
        print(f"new stories measured: {self.stories} in {self.seconds:.0f} s ({self.stories / self.seconds:.0f}/s), "
              f"alerted: {self.alerted} ({self.alerted / max(self.stories, 1):.1%})")  # fmt: skip
        print(f"full polls: {self.polls_per_s:.0f}/s")
        print(f"served -> alert at webhook: p50 {s[0]:.2f} s, p95 {s[1]:.2f} s, p99 {s[2]:.2f} s "
              f"(targets p95 <= {TARGET_P95_S} s, p99 <= {TARGET_P99_S} s)")  # fmt: skip
        print(f"published -> alert at webhook (poll wait included): p50 {p[0]:.2f} s, p95 {p[1]:.2f} s, "
              f"p99 {p[2]:.2f} s")  # fmt: skip
        print(f"newsmon run resident memory: {self.rss_main_mb:.0f} MB main process; with its workers "
              f"{self.pss_total_mb:.0f} MB proportional, {self.rss_total_mb:.0f} MB resident summed "
              f"(target {TARGET_RSS_MB:.0f} MB)")  # fmt: skip
        for role, rss, pss in self.processes:
            print(f"  {role:<28} {rss:.0f} MB resident, {pss:.0f} MB proportional")
        for hop, (p50, p95, p99) in self.hops.items():
            print(f"  {hop:<28} p50 {p50:.3f} s, p95 {p95:.3f} s, p99 {p99:.3f} s")
        print(json.dumps(self.__dict__))


Stamps = dict[int, dict[str, float]]
# Each hop's start and end stamp: the poll's start, the farm serving the feed, record times on news.raw,
# news.classified and news.alerts (set by each producer when it sends), the times stages write into the messages
# (scoring done, rule matched), and the alert's arrival at the webhook.
HOPS = [
    ("polled", "served"),
    ("served", "raw"),
    ("raw", "scored"),
    ("scored", "classified"),
    ("classified", "matched"),
    ("matched", "alerts"),
    ("alerts", "webhook"),
]
_INNER = {
    "raw": [("polled", "fetched_at")],
    "classified": [("scored", "classified_at")],
    "alerts": [("matched", "matched_at")],
}


async def hops(kafka: KafkaSettings, topics: TopicSettings, stamps: Stamps) -> dict[str, tuple[float, float, float]]:
    """p50/p95/p99 of each hop of the measured stories, from the record times on the topics between stages."""
    paths = {"raw": ("url",), "classified": ("item", "url"), "alerts": ("item", "item", "url")}
    for name, path in paths.items():
        await _stamp(kafka, getattr(topics, name), path, name, stamps)
    out: dict[str, tuple[float, float, float]] = {}
    for a, b in HOPS:
        d = [s[b] - s[a] for s in stamps.values() if a in s and b in s]
        out[f"{a} -> {b} ({len(d)})"] = (pct(d, 0.5), pct(d, 0.95), pct(d, 0.99))
    return out


async def _stamp(kafka: KafkaSettings, topic: str, path: tuple[str, ...], name: str, stamps: Stamps) -> None:
    """Note, per measured story, the time its first record on `topic` was sent."""

    def note(rec: Any) -> None:
        doc = url = json.loads(rec.value)
        for key in path:
            url = url[key]
        m = _STORY.search(url)
        if m and int(m.group(1)) in stamps:
            got = stamps[int(m.group(1))]
            got.setdefault(name, rec.timestamp / 1000)
            # Times the stages write into the messages: the poll's start, scoring done, rule matched.
            for stamp, field_name in _INNER.get(name, ()):
                got.setdefault(stamp, datetime.fromisoformat(doc[field_name]).timestamp())

    reader = TopicReader(kafka, topic, note)
    try:
        await reader.start(timeout_s=300)
    finally:
        await reader.stop()


async def wait_for(cond: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(1.0)


async def measure(args: argparse.Namespace, tmp: Path, bootstrap: str) -> Result:
    await ensure_topics(KafkaSettings(bootstrap=bootstrap), topic_specs(TopicSettings()), 1)
    # Wall clock, as the farm's own publication times.
    receiver: HookReceiver[int] = HookReceiver(farm_story, time.time)
    await receiver.start()
    farm_cmd = [sys.executable, "-m", "bench.feedfarm", "--feeds", str(args.feeds), "--round", str(args.interval)]
    try:
        async with child(farm_cmd, tmp / "farm.log", child_env()) as farm_proc:
            assert farm_proc.stdout is not None
            hello = json.loads(await asyncio.wait_for(farm_proc.stdout.readline(), 600))
            base = f"http://127.0.0.1:{hello['port']}"
            feeds_file = write_feed_list(tmp, base, args.feeds)
            hook, ops_port = receiver.url, free_port()
            config = write_config(tmp, bootstrap, hook, feeds_file, args.interval, ops_port, args.scoring_workers)
            cmd = [sys.executable, "-m", "monitor", "--settings", str(config), "run"]
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
                child(cmd, tmp / "newsmon.log", child_env()) as proc,
            ):
                ops = f"http://127.0.0.1:{ops_port}"
                result, stamps = await _phases(args, FarmClient(session, base), Ops(session, ops, proc), receiver, proc)
        result.hops = await hops(KafkaSettings(bootstrap=bootstrap), TopicSettings(), stamps)
        return result
    finally:
        await receiver.stop()


class Ops:
    """The service's own operations endpoint: whether every consuming stage has caught up."""

    def __init__(self, session: aiohttp.ClientSession, base: str, proc: Any) -> None:
        self._s, self._base, self._proc = session, base, proc

    async def lag(self) -> float | None:
        """Records not yet finished over all stages and partitions; None until all three stages measured theirs."""
        if self._proc.returncode is not None:
            raise RuntimeError("newsmon run exited")
        try:
            async with self._s.get(f"{self._base}/metrics") as r:
                text = await r.text()
        except aiohttp.ClientError:
            return None
        lags = [(f.labels["stage"], f.value) for m in text_string_to_metric_families(text)
                if m.name == "newsmon_consumer_lag" for f in m.samples]  # fmt: skip
        return sum(v for _, v in lags) if {s for s, _ in lags} >= {"classify", "alert", "deliver"} else None

    async def caught_up(self, timeout_s: float, what: str) -> None:
        async def done() -> bool:
            return await self.lag() == 0

        await wait_for(done, timeout_s, what)


async def _phases(
    args: argparse.Namespace, farm: FarmClient, ops: Ops, receiver: HookReceiver[int], proc: Any
) -> tuple[Result, Stamps]:
    await farm.control(phase="prime", change_fraction=0.0)
    print(f"priming: {args.feeds} feeds' backlogs...", file=sys.stderr, flush=True)
    started = time.monotonic()

    async def primed() -> bool:
        if proc.returncode is not None:
            raise RuntimeError("newsmon run exited")
        return int((await farm.stats())["served_once"]) >= args.feeds

    await wait_for(primed, 900, "every feed's first poll")
    await ops.caught_up(900, "the backlog to be classified and matched")
    print(f"primed in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    fraction = args.rate * args.interval / STORIES_PER_CHANGE / args.feeds
    await farm.control(phase="warmup", change_fraction=fraction, round_s=args.interval)
    await asyncio.sleep(3 * args.interval)
    before = await farm.stats()
    await farm.control(phase="measure")
    t0 = time.monotonic()
    memory: list[tuple[float, float, float]] = []
    while time.monotonic() - t0 < args.duration:
        await asyncio.sleep(5.0)
        memory.append(memory_mb(proc.pid))
        processes = memory_by_process(proc.pid)
    seconds = time.monotonic() - t0
    after = await farm.stats()
    await farm.control(phase="cooldown", change_fraction=0.0)
    # Stories of the window's last polls are still on their way: count once every stage has caught up.
    await asyncio.sleep(args.interval)
    await ops.caught_up(300, "the last stories to be alerted")
    await asyncio.sleep(2.0)
    stories = {k: v for k, v in (await farm.stories()).items() if v[0] == "measure" and v[2] is not None}
    served = [receiver.arrived[k] - s for k, (_, _, s) in stories.items() if k in receiver.arrived and s]
    # Stamps per story, filled with the topics' record times once the service has stopped.
    arrived = receiver.arrived
    stamps = {k: {"served": s, "webhook": arrived[k]} for k, (_, _, s) in stories.items() if k in arrived and s}
    published = [receiver.arrived[k] - p for k, (_, p, _) in stories.items() if k in receiver.arrived]
    return Result(
        stories=len(stories),
        alerted=len(served),
        seconds=seconds,
        served_p=(pct(served, 0.5), pct(served, 0.95), pct(served, 0.99)),
        published_p=(pct(published, 0.5), pct(published, 0.95), pct(published, 0.99)),
        rss_main_mb=median([m[0] for m in memory]),
        rss_total_mb=median([m[1] for m in memory]),
        pss_total_mb=median([m[2] for m in memory]),
        polls_per_s=(after["full"] - before["full"]) / seconds,
        processes=processes,
    ), stamps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=5.0, help="poll interval of every feed, seconds")
    ap.add_argument("--rate", type=float, default=200.0, help="new stories per second across the farm")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds measured in steady state")
    ap.add_argument("--scoring-workers", type=int, default=2,
                    help="classifier.workers (1: scoring in a thread of the service, no worker processes)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="200 feeds, 40 new stories/s, 30 s")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the logs and files here")
    args = ap.parse_args()
    if args.quick:
        args.feeds, args.rate, args.duration = 200, 40.0, 30.0
    with throwaway_broker() as broker, tempfile.TemporaryDirectory(prefix="newsmon-bench-e2e-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(measure(args, workdir, broker.bootstrap))
    result.print()


if __name__ == "__main__":
    main()
