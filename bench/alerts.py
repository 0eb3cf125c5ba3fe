"""Alerting benchmark: deliveries per second to a local webhook receiver, and the delay from an item landing in
`news.classified` to the receiver holding its alert (p50, p99). Prints its figures.

The alert and deliver stages run as one `newsmon run --stage alert --stage deliver` process against a throwaway
local broker; this process produces the items and runs the receiver, so the two share the machine's cores.

Run: .venv/bin/python -m bench.alerts [--items 5000] [--latency-items 600] [--rate 60]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench.common import REPO, HookReceiver, child_env, median, throwaway_broker, write_hook_rules
from monitor.messages import ClassifiedItem, Contribution, Place, RawItem, encode
from monitor.settings import KafkaSettings, TopicSettings
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs


def item(i: int) -> ClassifiedItem:
    now = datetime.now(UTC)
    raw = RawItem(
        id=f"bench-{i}",
        feed_id="bench",
        feed_url="https://bench.example/rss",
        source="Bench Wire",
        url=f"https://bench.example/story/{i}",
        title=f"Drone crosses the border, story {i}",
        summary="Officials said a drone crossed the frontier overnight.",
        published=now,
        fetched_at=now,
        content_hash=f"{i:016x}",
        lang="en",
    )
    return ClassifiedItem(
        item=raw,
        scores={"cross_border_incident": 0.93, "election": 0.04},
        labels=["cross_border_incident"],
        model="bench",
        places=[Place(code="PL", name="Poland")],
        explanation={"cross_border_incident": [Contribution(feature="drone", weight=1.2)]},
    )


def write_config(tmp: Path, bootstrap: str, hook: str) -> Path:
    rules = write_hook_rules(tmp, hook, {"id": "incidents", "labels": {"cross_border_incident": 0.6}})
    cfg = {
        "kafka": {"bootstrap": bootstrap},
        "alerts": {"rules_file": str(rules)},
        "log": {"level": "WARNING", "format": "json"},
    }
    (tmp / "settings.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "settings.yaml"


async def wait_until(cond: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.01)
    return bool(cond())  # type: ignore[operator]


async def run(bootstrap: str, items: int, latency_items: int, rate: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-alerts-") as tmpdir:
        tmp = Path(tmpdir)
        ks = KafkaSettings(bootstrap=bootstrap)
        await ensure_topics(ks, topic_specs(TopicSettings()), 1)
        receiver: HookReceiver[str] = HookReceiver(lambda a: a["story"]["id"], time.monotonic)
        await receiver.start()
        config = write_config(tmp, bootstrap, receiver.url)
        producer = make_producer(ks, linger_ms=0)
        await producer.start()
        log = (tmp / "alerting.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "--settings",
            str(config),
            "run",
            "--stage",
            "alert",
            "--stage",
            "deliver",
            cwd=REPO,
            env=child_env(),
            stdout=log,
            stderr=log,
        )
        try:
            # Warm-up: the process is up, has joined its groups and delivers.
            await producer.send_and_wait("news.classified", encode(item(-1)), key=b"bench--1")
            if not await wait_until(lambda: "bench--1" in receiver.arrived, 90):
                raise RuntimeError("alerting did not start:\n" + (tmp / "alerting.log").read_text()[-3000:])

            # Throughput: a backlog of `items` matching stories, delivered as fast as the stages go.
            futures = [
                await producer.send("news.classified", encode(item(i)), key=f"bench-{i}".encode()) for i in range(items)
            ]
            await asyncio.gather(*futures)
            produced_at = time.monotonic()
            want = {f"bench-{i}" for i in range(items)}
            if not await wait_until(lambda: want <= receiver.arrived.keys(), 300):
                raise RuntimeError(f"only {len(want & receiver.arrived.keys())} of {items} alerts arrived")
            times = sorted(receiver.arrived[k] for k in want)
            burst_s = times[-1] - times[0]
            total_s = times[-1] - produced_at

            # Latency: stories arriving one by one at `rate` per second, each timed from its acknowledged produce.
            sent: dict[str, float] = {}
            base = items + 10
            for i in range(base, base + latency_items):
                t0 = time.monotonic()
                await producer.send_and_wait("news.classified", encode(item(i)), key=f"bench-{i}".encode())
                sent[f"bench-{i}"] = t0
                await asyncio.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
            await wait_until(lambda: sent.keys() <= receiver.arrived.keys(), 60)
            lat = sorted((receiver.arrived[k] - t) * 1000 for k, t in sent.items() if k in receiver.arrived)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 60)
            await producer.stop()
            await receiver.stop()
        return {
            "items": items,
            "deliveries_per_s": items / burst_s if burst_s > 0 else float("inf"),
            "backlog_drained_s": total_s,
            "requests": receiver.requests,
            "latency_items": len(lat),
            "latency_missing": latency_items - len(lat),
            "latency_p50_ms": median(lat),
            "latency_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "latency_max_ms": lat[-1],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--latency-items", type=int, default=600)
    parser.add_argument("--rate", type=float, default=60.0, help="stories per second in the latency run")
    args = parser.parse_args()
    with throwaway_broker() as broker:
        r = asyncio.run(run(broker.bootstrap, args.items, args.latency_items, args.rate))
    print(f"alert delivery, 1 webhook sink on loopback, {r['items']:.0f} alerts ({r['requests']:.0f} requests)")
    print(f"  deliveries/s (first to last arrival):   {r['deliveries_per_s']:.0f}   (target >= 500)")
    print(f"  backlog produced -> all delivered:       {r['backlog_drained_s']:.2f} s")
    print(
        f"  news.classified -> receiver, {r['latency_items']:.0f} stories at {args.rate:g}/s "
        f"({r['latency_missing']:.0f} missing):"
    )
    print(
        f"    p50 {r['latency_p50_ms']:.1f} ms   p99 {r['latency_p99_ms']:.1f} ms   max {r['latency_max_ms']:.1f} ms"
        f"   (target p99 < 250 ms)"
    )


if __name__ == "__main__":
    main()
