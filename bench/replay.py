"""Replay benchmark: items per second for a rules-only replay of `news.classified` and a re-classifying replay of
`news.raw`, the CPU time per item (all processes, start-up included) and the replay process's peak resident memory,
at two or more range sizes. Prints its figures.

The topics are filled on a throwaway local broker; each replay runs in a fresh child process so its peak RSS is its
own. Run: .venv/bin/python -m bench.replay [--sizes 10000,200000] [--raw-sizes 10000,50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.common import REPO, child_env, throwaway_broker
from monitor.messages import ClassifiedItem, Place, RawItem, encode
from monitor.settings import ClassifierSettings, KafkaSettings, Settings, TopicSettings
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs

_PLACES = ("Poland", "Belarus", "Ukraine", "Russia", "Lithuania", "Georgia", "Armenia", "Azerbaijan", "Serbia")
_EVENTS = ("Drone crosses the border near", "Shelling reported along the frontier with", "Voters go to the polls in",
           "Election commission publishes results in", "Trade talks resume between officials of",
           "Border guards detain smugglers from", "Parliament debates a budget in")  # fmt: skip


def _raw(i: int, rng: random.Random, at: datetime) -> RawItem:
    a, b = rng.sample(_PLACES, 2)
    return RawItem(id=f"{i:032x}", feed_id=f"feed-{i % 40}", feed_url="https://bench.example/rss",
                   source=f"Source {i % 40}", url=f"https://bench.example/{i}",
                   title=f"{rng.choice(_EVENTS)} {a}", summary=f"Officials in {a} and {b} commented on story {i}.",
                   published=at, fetched_at=at, content_hash=f"{i:016x}", lang=("en", "de", "fr")[i % 3])  # fmt: skip


def _classified(raw: RawItem, rng: random.Random) -> ClassifiedItem:
    # Skewed low as in a real stream, where about one story in ten is about an incident or an election.
    scores = {"cross_border_incident": round(rng.random() ** 8, 4), "election": round(rng.random() ** 8, 4)}
    return ClassifiedItem(item=raw, scores=scores, labels=[k for k, v in scores.items() if v >= 0.5],  # type: ignore[misc]
                          model="bench", places=[Place(code="PL", name="Poland")])  # fmt: skip


def bench_settings(bootstrap: str, prefix: str) -> Settings:
    topics = TopicSettings(raw=f"{prefix}.news.raw", classified=f"{prefix}.news.classified",
                           alerts=f"{prefix}.news.alerts", partitions=2)  # fmt: skip
    return Settings(kafka=KafkaSettings(bootstrap=bootstrap), topics=topics,
                    classifier=ClassifierSettings(model_dir=REPO / "models"))  # fmt: skip


async def fill(s: Settings, n: int, raw_n: int, start: datetime) -> None:
    """`n` classified and `raw_n` raw items, spread evenly over the 28 days from `start` (within retention)."""
    await ensure_topics(s.kafka, topic_specs(s.topics), 1)
    rng = random.Random(7)
    producer = make_producer(s.kafka, linger_ms=50, max_batch_size=1 << 20)
    await producer.start()
    try:
        step = timedelta(days=28) / max(n, raw_n, 1)
        for i in range(max(n, raw_n)):
            at = start + i * step
            raw = _raw(i, rng, at)
            ms, key = int(at.timestamp() * 1000), raw.id.encode()
            if i < n:
                await producer.send(s.topics.classified, encode(_classified(raw, rng)), key=key, timestamp_ms=ms)
            if i < raw_n:
                await producer.send(s.topics.raw, encode(raw), key=key, timestamp_ms=ms)
        await producer.flush()
    finally:
        await producer.stop()


def child(bootstrap: str, prefix: str, topic: str, since: str) -> None:
    """Run one replay in this process and print its figures as JSON."""
    from consumers.replay.request import ReplayRequest
    from consumers.replay.run import run_replay

    s = bench_settings(bootstrap, prefix)
    name = s.topics.raw if topic == "raw" else s.topics.classified
    req = ReplayRequest(topic=name, since=datetime.fromisoformat(since), rules_path=REPO / "config" / "rules.yaml")
    started = time.perf_counter()
    report = asyncio.run(run_replay(s, req))
    seconds = time.perf_counter() - started
    me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime
    run = report["run"]
    print(json.dumps({"items": report["items"], "alerts": report["alerts"]["total"], "seconds": round(seconds, 2),
                      "startup_s": run["startup_s"], "items_per_s": run["records_per_s"], "cpu_s": round(cpu_s, 1),
                      "max_rss_mb": round(me.ru_maxrss / 1024),
                      "worker_max_rss_mb": round(workers.ru_maxrss / 1024)}))  # fmt: skip


def measure(bootstrap: str, prefix: str, topic: str, since: datetime) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.replay", "--child", bootstrap, prefix, topic, since.isoformat()]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"replay of {topic} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _workers_rss(mb: float) -> str:
    # A replay of news.classified starts no worker processes.
    return f" (+ {mb:.0f} MB per worker)" if mb else " (no workers)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="10000,200000", help="range sizes for the rules-only replay")
    ap.add_argument("--raw-sizes", default="10000,50000", help="range sizes for the re-classifying replay")
    ap.add_argument("--child", nargs=4, metavar=("BOOTSTRAP", "PREFIX", "TOPIC", "SINCE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(x) for x in args.sizes.split(",") if x]
    raw_sizes = [int(x) for x in args.raw_sizes.split(",") if x]
    start = datetime.now(UTC) - timedelta(days=29)
    with throwaway_broker() as broker:
        for n in sorted(set(sizes) | set(raw_sizes)):
            prefix = f"bench{n}"
            s = bench_settings(broker.bootstrap, prefix)
            asyncio.run(fill(s, n if n in sizes else 0, n if n in raw_sizes else 0, start))
            for topic, wanted in (("classified", sizes), ("raw", raw_sizes)):
                if n in wanted:
                    f = measure(broker.bootstrap, prefix, topic, start - timedelta(minutes=1))
                    print(f"replay {topic:10} {n:>7} items: {f['items_per_s']:>7,.0f} items/s after a "
                          f"{f['startup_s']:.1f} s start ({f['seconds']:.1f} s in all, {f['cpu_s']:.1f} CPU-s = "
                          f"{f['cpu_s'] / n * 1e6:.0f} us per item), peak RSS {f['max_rss_mb']:.0f} MB"
                          f"{_workers_rss(f['worker_max_rss_mb'])}, {f['alerts']} alerts", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
