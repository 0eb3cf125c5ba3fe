"""Classifier benchmark: model load time and the memory the loaded model takes, file-mode throughput on one core,
the Kafka stage end to end on two cores, resident memory, and accuracy on the held-out test split. Each figure is the
median of several runs in this one invocation.

Run: .venv/bin/python -m bench.classifier [--items 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

from bench.common import REPO, child_env, median, throwaway_broker
from classifiers.dataset import load_examples
from classifiers.model import ModelNotFoundError, NewsClassifier, latest_version
from classifiers.train import Labeled, evaluate, is_current
from monitor.messages import LABELS, RawItem, encode, encode_key
from monitor.settings import KafkaSettings, TopicSettings
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs


def _corpus(n: int) -> list[tuple[str, str]]:
    examples = load_examples()
    rng = random.Random(3)
    return [(e.title, e.summary) for e in (rng.choice(examples) for _ in range(n))]


# Run in a fresh process: imports first, then resident memory before and after loading the model.
_LOAD_PROBE = """
import json, sys, time
from pathlib import Path
import psutil
from classifiers.model import NewsClassifier
before = psutil.Process().memory_info().rss
started = time.monotonic()
NewsClassifier.load(Path(sys.argv[1]), sys.argv[2])
seconds = time.monotonic() - started
print(json.dumps({"seconds": seconds, "mb": (psutil.Process().memory_info().rss - before) / 2**20}))
"""


def bench_load(models_dir: Path, version: str, runs: int) -> dict[str, float]:
    """Median load time and median resident memory the loaded model adds, each over `runs` fresh processes."""
    probes = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _LOAD_PROBE, str(models_dir), version], capture_output=True,
                             text=True, check=True, cwd=REPO, env=child_env())  # fmt: skip
        probes.append(json.loads(out.stdout))
    return {"seconds": median([p["seconds"] for p in probes]), "mb": median([p["mb"] for p in probes])}


# What `newsmon classify` reports on stderr: its rate per second of wall time and per second of its CPU time.
_RATES = re.compile(r"\((\d+)/s, (\d+)/s of CPU time\)")


def bench_file_mode(models_dir: Path, version: str, items: list[tuple[str, str]], runs: int) -> dict[str, float]:
    """Median rates of `newsmon classify` pinned to one core, per second of wall time and of its CPU time."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, cfg = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl", Path(tmp) / "s.yaml"
        src.write_text(
            "".join(json.dumps({"id": i, "title": t, "summary": s}) + "\n" for i, (t, s) in enumerate(items))
        )
        cfg.write_text(yaml.safe_dump({"classifier": {"model_dir": str(models_dir)}}))
        rates, cpu_rates, walls = [], [], []
        for _ in range(runs):
            started = time.monotonic()
            proc = subprocess.run(
                ["taskset", "-c", "0", sys.executable, "-m", "monitor", "--settings", str(cfg), "classify",
                 "--input", str(src), "--output", str(dst), "--model", version],
                capture_output=True, text=True, env=child_env(), cwd=REPO, check=True,
            )  # fmt: skip
            walls.append(time.monotonic() - started)
            found = _RATES.search(proc.stderr)
            if found is None:
                raise RuntimeError(f"classify reported no rates: {proc.stderr[-300:]}")
            rates.append(float(found.group(1)))
            cpu_rates.append(float(found.group(2)))
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"items_per_s": median(rates), "cpu_items_per_s": median(cpu_rates),
            "wall_items_per_s": len(items) / median(walls), "max_rss_mb": rss_mb}  # fmt: skip


async def _fill_raw(ks: KafkaSettings, topics: TopicSettings, items: list[tuple[str, str]]) -> None:
    await ensure_topics(ks, topic_specs(topics), 1)
    producer = make_producer(ks, linger_ms=50, max_batch_size=256 * 1024)
    await producer.start()
    now = datetime.now(UTC)
    try:
        futures = []
        for i, (t, s) in enumerate(items):
            raw = RawItem(id=f"b{i}", feed_id="bench", feed_url="http://127.0.0.1/f", source="Bench", title=t,
                          summary=s, published=now, fetched_at=now, content_hash=str(i))  # fmt: skip
            futures.append(await producer.send(topics.raw, encode(raw), key=encode_key(raw)))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _count(ks: KafkaSettings, topic: str, partitions: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=ks.bootstrap_servers)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return sum(ends.values())
    finally:
        await consumer.stop()


def bench_stage(models_dir: Path, version: str, items: list[tuple[str, str]], runs: int) -> dict[str, float]:
    """Median throughput of the stage over `runs` runs on one broker, each into its own output topic and group."""
    with throwaway_broker() as broker, tempfile.TemporaryDirectory() as tmp:
        ks = KafkaSettings(bootstrap=broker.bootstrap)
        asyncio.run(_fill_raw(ks, TopicSettings(), items))
        results = [_stage_run(ks, models_dir, version, len(items), Path(tmp), run) for run in range(runs)]
    rss = [r["max_process_rss_mb"] for r in results]
    return {"items_per_s": median([r["items_per_s"] for r in results]), "items": float(len(items)),
            "max_process_rss_mb": max(rss), "total_rss_mb": max(r["total_rss_mb"] for r in results),
            "processes": results[0]["processes"]}  # fmt: skip


def _stage_run(
    ks: KafkaSettings, models_dir: Path, version: str, n_items: int, tmp: Path, run: int
) -> dict[str, float]:
    """Run the stage over all of `news.raw` once and time it from its first output to its last."""
    topics = TopicSettings(classified=f"bench.classified.{run}")
    asyncio.run(ensure_topics(ks, topic_specs(topics), 1))
    cfg = tmp / f"s{run}.yaml"
    classifier = {"model_dir": str(models_dir), "model_version": version, "batch_size": 500,
                  "group_id": f"bench-classifier-{run}"}  # fmt: skip
    body = {"classifier": classifier, "topics": {"classified": topics.classified}, "log": {"level": "WARNING"}}
    cfg.write_text(yaml.safe_dump(body))
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--settings", str(cfg), "run", "--stage", "classify"],
        env=child_env(NEWSMON_KAFKA_BOOTSTRAP=ks.bootstrap), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    first = last = None
    deadline = time.monotonic() + 600
    rss: dict[int, float] = {}
    try:
        while time.monotonic() < deadline:
            n = asyncio.run(_count(ks, topics.classified, topics.partitions))
            now = time.monotonic()
            _sample_rss(proc.pid, rss)
            if n and first is None:
                first = (now, n)
            if n >= n_items:
                last = now
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(60)
    if first is None or last is None:
        raise RuntimeError("the classifier stage did not finish in time")
    return {"items_per_s": (n_items - first[1]) / max(last - first[0], 1e-9),
            "max_process_rss_mb": max(rss.values(), default=0.0), "total_rss_mb": sum(rss.values()),
            "processes": float(len(rss))}  # fmt: skip


def _sample_rss(pid: int, peak: dict[int, float]) -> None:
    """Record each process's peak resident memory (the stage and its scoring workers)."""
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            peak[p.pid] = max(peak.get(p.pid, 0.0), p.memory_info().rss / 2**20)
    except psutil.Error:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--stage-items", type=int, default=30000)
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; each figure is their median")
    args = ap.parse_args()
    models_dir = REPO / "models"
    version = is_current(models_dir)
    if version is None:
        try:
            version = latest_version(models_dir)
        except ModelNotFoundError:
            sys.exit("no trained model: run `make model` first")
        print(f"note: the newest model {version} was trained on other data or code than the current tree")
    model = NewsClassifier.load(models_dir, version)
    print(f"model {version}; medians of {args.runs} runs each (a shared machine makes single runs noisy)")
    ld = bench_load(models_dir, version, args.runs)
    print(f"model load, fresh process: {ld['seconds']:.2f} s   target < 2 s")
    print(f"loaded model (resident memory after load minus before): {ld['mb']:.0f} MB   target < 150 MB")
    fm = bench_file_mode(models_dir, version, _corpus(args.items), args.runs)
    print(
        f"classify file mode, one core (taskset -c 0), {args.items} items: "
        f"{fm['items_per_s']:.0f} items/s (wall incl. start-up {fm['wall_items_per_s']:.0f}/s; "
        f"{fm['cpu_items_per_s']:.0f}/s per second of CPU time, what a free core does)   target >= 3000/s"
    )
    print(f"resident memory of classify (max RSS): {fm['max_rss_mb']:.0f} MB   target < 300 MB")
    st = bench_stage(models_dir, version, _corpus(args.stage_items), args.runs)
    print(
        f"Kafka stage news.raw -> news.classified, 2 cores, {int(st['items'])} items: "
        f"{st['items_per_s']:.0f} items/s   target >= 2000/s"
    )
    print(
        f"resident memory of the stage: largest process {st['max_process_rss_mb']:.0f} MB   target < 300 MB; "
        f"{int(st['processes'])} processes together {st['total_rss_mb']:.0f} MB"
    )
    print(f"summary: load {ld['seconds']:.2f} s, file mode {fm['items_per_s']:.0f} items/s "
          f"({fm['cpu_items_per_s']:.0f}/s of CPU time), "
          f"stage {st['items_per_s']:.0f} items/s, loaded model {ld['mb']:.0f} MB")  # fmt: skip
    examples = [e for e in load_examples() if e.split == "test"]
    report = evaluate(model, [Labeled(e.title, e.summary, e.labels, e.lang) for e in examples])
    print(f"held-out test split ({report['n']} items):")
    print(f"  {'lang':5} {'label':22} {'n':>4} {'P':>6} {'R':>6} {'F1':>6}")
    for scope, block in [("all", report["labels"]), *sorted(report["by_lang"].items())]:
        for lb in LABELS:
            m = block[lb]
            print(f"  {scope:5} {lb:22} {m['support']:4d} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}")


if __name__ == "__main__":
    main()
