"""Story benchmark: items/s through the clustering core and through the story stage's work per batch (decode,
assign, grow the record, encode), the stage end to end on a real broker, and resident memory with N items in the
window. Prints its figures.

Run: .venv/bin/python -m bench.stories [--items 200000] [--stage-items 20000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil

from bench.common import throwaway_broker
from consumers.stories.cluster import Clusterer
from consumers.stories.evaluate import LABELED, read_labeled
from consumers.stories.facts import Facts, from_classified
from consumers.stories.keeper import StoryKeeper, handle
from consumers.stories.stage import run_stories
from monitor.messages import LABELS, ClassifiedItem, Place, RawItem, encode, encode_key
from monitor.settings import KafkaSettings, Settings, StorySettings, TopicSettings
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.produce import Outgoing, produce_each
from monitor.topics import ensure_topics, topic_specs

COUNTRIES = ["AM", "AZ", "IN", "PK", "RU", "UA", "IL", "LB", "KG", "TJ", "TH", "KH", "RS", "XK", "AF", "IR", "PL",
             "BY", "LT", "GE", "VE", "GY", "CO", "SD", "ET", "CN", "KP", "KR", "JP", "TR", "GR", "IQ", "RO", "MD",
             "FR", "DE", "ES", "MX", "BR", "US"]  # fmt: skip
WINDOW_H = 70.0


def stream(n: int, seed: int = 14, hours: float = WINDOW_H) -> list[ClassifiedItem]:
    """`n` classified items in events of 1 to 12 reports each, published across `hours` (70: one window).

    Each event's text is a labeled item's with half its words swapped for others of the set, so events differ as
    real ones do; its reports are wire rewrites of that text or, one in four, another text with the same places.
    """
    rng = random.Random(seed)
    rows, vocabulary = _corpus()
    start = datetime(2025, 3, 3, tzinfo=UTC)
    out: list[ClassifiedItem] = []
    e = 0
    while len(out) < n:
        e += 1
        out += _event(rng, e, rows, vocabulary, lambda: start + timedelta(hours=rng.uniform(0, hours - 8)))
    return out[:n]


def flowing(n: int, hours: float, seed: int = 15) -> Iterator[Facts]:
    """`n` items as `stream` makes them, across `hours`, made as they are read and in order of publication: a
    stream many windows long that the benchmark itself does not hold in memory."""
    rng = random.Random(seed)
    rows, vocabulary = _corpus()
    start = datetime(2025, 3, 3, tzinfo=UTC)
    starts = sorted(rng.uniform(0, hours - 8) for _ in range(int(n / 6.5) + 1))
    pending: list[tuple[datetime, str, Facts]] = []
    made = 0
    for e, h in enumerate(starts, 1):
        t0 = start + timedelta(hours=h)
        while pending and pending[0][0] < t0:  # no later event has a report before its start
            yield heapq.heappop(pending)[2]
        for item in _event(rng, e, rows, vocabulary, lambda t0=t0: t0):  # type: ignore[misc]
            if made < n:
                f = from_classified(item)
                heapq.heappush(pending, (f.published, f.item_id, f))
                made += 1
    while pending:
        yield heapq.heappop(pending)[2]


def _corpus() -> tuple[list[dict[str, Any]], list[str]]:
    rows = read_labeled(LABELED)
    return rows, sorted({w for r in rows for w in f"{r['title']} {r['lead']}".split()})


def _event(
    rng: random.Random, e: int, rows: list[dict[str, Any]], vocabulary: list[str], when: Callable[[], datetime]
) -> list[ClassifiedItem]:
    a, b = rng.sample(COUNTRIES, 2)
    places = [Place(code=a, name=a), Place(code=b, name=b), Place(code=a, name=f"Village {e}", kind="city")]
    labels = rng.choice([["cross_border_incident"], ["election"], []])
    t0 = when()
    wire = _text(rng.choice(rows), vocabulary, rng)
    out = []
    for k in range(rng.randint(1, 12)):
        title, lead = _text(rng.choice(rows), vocabulary, rng) if k and rng.random() < 0.25 else wire
        title = f"UPDATE 1-{title}" if k % 3 == 1 else title
        lead = " ".join(lead.split()[: -(k % 4) or None])
        at = t0 + timedelta(minutes=rng.uniform(0, 360))
        out.append(_item(f"{e:08x}{k:04x}", title, lead, at, k, places, labels))
    return out


def _text(row: dict[str, Any], vocabulary: list[str], rng: random.Random) -> tuple[str, str]:
    def swap(text: str) -> str:
        return " ".join(w if rng.random() < 0.5 else rng.choice(vocabulary) for w in text.split())

    return swap(row["title"]), swap(row["lead"])


def _item(
    item_id: str, title: str, lead: str, at: datetime, k: int, places: list[Place], labels: Any
) -> ClassifiedItem:
    raw = RawItem(id=item_id, feed_id=f"f{k}", feed_url=f"https://feeds.outlet{k}.example/rss", source=f"Outlet {k}",
                  url=f"https://www.outlet{k}.example/{item_id}", title=title, summary=lead, published=at,
                  fetched_at=at, lang="en", content_hash="h")  # fmt: skip
    return ClassifiedItem(item=raw, scores=dict.fromkeys(LABELS, 0.5), labels=labels, model="m", places=places)


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def bench_core(items: list[ClassifiedItem]) -> dict[str, float]:
    """Items/s through `Clusterer.assign` (facts prepared), and the memory the clusterer holds with all of them."""
    facts = sorted((from_classified(m) for m in items), key=lambda f: f.published)
    before = rss_mb()
    c = Clusterer()
    started, cpu = time.perf_counter(), time.process_time()
    for f in facts:
        c.assign(f)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    held = rss_mb() - before
    return {"items": len(facts), "items_per_s": len(facts) / took, "items_per_cpu_s": len(facts) / cpu,
            "stories": len(c), "items_in_window": c.items, "clusterer_rss_mb": held,
            "process_rss_mb": rss_mb()}  # fmt: skip


def bench_slide(per_window: int, windows: float, samples: int = 12) -> dict[str, Any]:
    """Resident memory as the window slides over a stream `windows` windows long with `per_window` items in each:
    flat once the first window is full, when the clusterer forgets as much as it takes."""
    n = int(per_window * windows)
    c = Clusterer()
    before = rss_mb()
    rss: list[str] = []
    started = time.perf_counter()
    for done, f in enumerate(flowing(n, WINDOW_H * windows), 1):
        c.assign(f)
        if done % (n // samples) == 0:
            rss.append(f"{rss_mb() - before:.0f}")
    took = time.perf_counter() - started
    return {"items": n, "windows": windows, "items_per_s": n / took, "stories": len(c), "items_in_window": c.items,
            "clusterer_rss_mb_every_twelfth": "/".join(rss)}  # fmt: skip


def bench_keeper(items: list[ClassifiedItem], batch: int = 500) -> dict[str, float]:
    """Items/s through the stage's per-batch work apart from the broker (decode, sign, assign, grow and encode
    records) in one process, and the memory the keeper holds with all the items in its window."""
    values = [encode(m) for m in sorted(items, key=lambda m: m.item.published)]
    settings = Settings()
    before = rss_mb()
    keeper = StoryKeeper(settings.topics, settings.stories)
    started, cpu = time.perf_counter(), time.process_time()
    story_bytes = signature_bytes = 0
    for at in range(0, len(values), batch):
        b = handle(keeper, values[at : at + batch])
        story_bytes += sum(len(o.value or b"") for o in b.records)
        signature_bytes += sum(len(o.value or b"") for o in b.signatures)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    # Bytes produced to the stories and signatures topics per item: records coalesce within a batch of `batch`.
    return {"items": len(values), "items_per_s": len(values) / took, "items_per_cpu_s": len(values) / cpu,
            "story_bytes_per_item": story_bytes / len(values),
            "signature_bytes_per_item": signature_bytes / len(values), "stories": len(keeper.stories),
            "items_in_window": keeper.clusterer.items, "keeper_rss_mb": rss_mb() - before}  # fmt: skip


async def _fill(ks: KafkaSettings, topics: TopicSettings, items: list[ClassifiedItem]) -> None:
    producer = make_producer(ks, linger_ms=50)
    await producer.start()
    try:
        for at in range(0, len(items), 5000):
            chunk = items[at : at + 5000]
            await produce_each(producer, [Outgoing(topics.classified, encode_key(m), encode(m)) for m in chunk])
    finally:
        await producer.stop()


async def _storied(consumer: Any, topic: str) -> int:
    tps = [tp for tp in await _partitions(consumer, topic)]
    return sum((await consumer.end_offsets(tps)).values())


async def _partitions(consumer: Any, topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    await consumer._client.force_metadata_update()
    return [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]


def bench_stage(items: list[ClassifiedItem], runs: int) -> dict[str, dict[str, Any]]:
    """The stage on a real broker, `runs` times with the keeper in a process of its own and as many in the stage's
    event loop: items pre-filled on news.classified, time until all are on news.storied. The median run of each."""
    with throwaway_broker() as broker:
        return asyncio.run(_stages(broker.bootstrap, items, runs))


async def _stages(bootstrap: str, items: list[ClassifiedItem], runs: int) -> dict[str, dict[str, Any]]:
    out: dict[str, list[dict[str, Any]]] = {"own_process": [], "in_loop": []}
    for n in range(runs):
        for mode, own in (("own_process", True), ("in_loop", False)):
            out[mode].append(await _stage(bootstrap, items, f"run{n}-{mode}", own))
    return {mode: _median(rs) for mode, rs in out.items()}


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    mid = sorted(runs, key=lambda r: r["items_per_s"])[len(runs) // 2]
    return {**mid, "runs_items_per_s": "/".join(f"{r['items_per_s']:.0f}" for r in runs)}


async def _stage(bootstrap: str, items: list[ClassifiedItem], prefix: str, own_process: bool) -> dict[str, Any]:
    topics = TopicSettings(**{name: f"{prefix}.{value}" for name, value in TopicSettings().model_dump().items()
                              if isinstance(value, str)}, partitions=1)  # fmt: skip
    stories = StorySettings(batch_size=1000, own_process=own_process, group_id=f"{prefix}.stories")
    settings = Settings(kafka=KafkaSettings(bootstrap=bootstrap), topics=topics, stories=stories)
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    await _fill(settings.kafka, settings.topics, items)
    stop = asyncio.Event()
    # One client for the end offsets: a client started per look cost as much CPU time as a sizeable part of the stage.
    watcher = make_consumer(settings.kafka, group_id=None)
    await watcher.start()
    started = time.perf_counter()
    task = asyncio.create_task(run_stories(settings, stop))
    try:
        # From the first batch on news.storied to the last: the stage at work, its start-up apart.
        first, first_at, cpu = await _until(watcher, settings.topics.storied, 1)
        _, last_at, _ = await _until(watcher, settings.topics.storied, len(items))
        cpu = time.process_time() - cpu
        memory = _memory()
    finally:
        stop.set()
        await task
        await watcher.stop()
    n = len(items) - first
    # CPU time of this process only: the stage and the reads of the end offsets, not the broker's nor the keeper's.
    return {"items": len(items), "items_per_s": n / (last_at - first_at), "items_per_cpu_s_here": n / cpu,
            "start_s": first_at - started, **memory}  # fmt: skip


async def _until(watcher: Any, topic: str, count: int) -> tuple[int, float, float]:
    """Wait until `topic` holds `count` records; return how many it held then, the time and the CPU time."""
    while (held := await _storied(watcher, topic)) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # the end offsets are the signal; the stage has no event to wait on
    return held, time.perf_counter(), time.process_time()


def _memory() -> dict[str, float]:
    """Resident memory of this process (the benchmark's items included) and of the keeper's process, if any."""
    keepers = [p for p in psutil.Process().children() if any("spawn_main" in a for a in p.cmdline())]
    return {"rss_mb_here": psutil.Process().memory_info().rss / 2**20,
            "keeper_process_rss_mb": sum(p.memory_info().rss for p in keepers) / 2**20}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=200_000, help="items in the window for the core and memory")
    ap.add_argument("--stage-items", type=int, default=20_000, help="items through the stage on a real broker")
    ap.add_argument("--runs", type=int, default=3, help="runs of the core and of each stage mode; medians printed")
    ap.add_argument("--slide", type=float, default=0.0, help="also slide the window over this many windows of --items")
    ap.add_argument("--only-slide", action="store_true", help="run the sliding-window memory benchmark alone")
    ap.add_argument("--quick", action="store_true", help="20,000 items in the window and 5,000 through the stage")
    args = ap.parse_args()
    if args.quick:
        args.items, args.stage_items = 20_000, 5_000
    if args.slide or args.only_slide:
        print(f"slide:  {fmt(bench_slide(args.items, args.slide or 3.0))}", flush=True)
        if args.only_slide:
            return
    items = stream(args.items)
    runs = [bench_core(items) for _ in range(args.runs)]
    core = sorted(runs, key=lambda r: r["items_per_s"])[len(runs) // 2]
    each = "/".join(f"{r['items_per_s']:.0f}" for r in runs)
    print(f"core:   {fmt(core)}  runs_items_per_s={each}", flush=True)
    print(f"keeper: {fmt(bench_keeper(items))}", flush=True)
    if args.stage_items:
        for mode, figures in bench_stage(items[: args.stage_items], args.runs).items():
            print(f"stage ({mode}):  {fmt(figures)}", flush=True)


def fmt(figures: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:,.1f}" if isinstance(v, float) else f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}"
                     for k, v in figures.items())  # fmt: skip


if __name__ == "__main__":
    main()
