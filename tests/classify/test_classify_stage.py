"""The classifier stage on the real broker: every raw item classified once, offsets committed after producing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from classifiers.model import NewsClassifier
from consumers.classify.scoring import ScoringError
from consumers.classify.stage import run_classifier
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.formats.entry import ParsedEntry, ParsedFeed
from monitor.ingest.normalize import normalize_entries
from monitor.messages import ClassifiedItem, DeadLetter, RawItem, decode, encode, encode_key
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from tests.support.kafka import committed_offsets, end_offsets, read_topic

REPO = Path(__file__).resolve().parents[2]


def raw(i: int, title: str, summary: str = "") -> RawItem:
    now = datetime.now(UTC)
    return RawItem(id=f"item-{i}", feed_id="f", feed_url="https://f.example/rss", source="F", title=title,
                   summary=summary, published=now, fetched_at=now, content_hash=f"h{i}")  # fmt: skip


def own_group(settings: Settings, **classifier: Any) -> Settings:
    """Settings whose classifier consumer group belongs to this test alone, so its commits can be read back."""
    group = settings.topics.raw.split(".", 1)[0] + "-classify"
    cs = settings.classifier.model_copy(update={"group_id": group, **classifier})
    return settings.model_copy(update={"classifier": cs})


async def assert_restart_classifies_only_new_items(
    settings: Settings, classified: int, model: NewsClassifier | None = None
) -> None:
    """The stopped stage committed all it read; a restarted stage classifies one new item and nothing old again.

    The new item is the restarted consumer's proof of having fetched: without it, "nothing more was produced"
    would also hold for a consumer that never fetched at all.
    """
    bootstrap = settings.kafka.bootstrap_servers
    ends = await end_offsets(bootstrap, settings.topics.raw)
    assert await committed_offsets(bootstrap, settings.classifier.group_id, settings.topics.raw) == ends
    stop = asyncio.Event()
    task = asyncio.create_task(run_classifier(settings, stop, model=model))
    try:
        await produce_raw(settings, [raw(10_000, "Ferry timetable changes for the winter season")])
        recs = await read_topic(bootstrap, settings.topics.classified, expect=classified + 1, idle_s=1.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    ids = [decode(ClassifiedItem, r.value).item.id for r in recs]
    assert len(ids) == classified + 1 and len(set(ids)) == len(ids) and "item-10000" in ids
    ends = await end_offsets(bootstrap, settings.topics.raw)
    assert await committed_offsets(bootstrap, settings.classifier.group_id, settings.topics.raw) == ends


async def classify_until(
    settings: Settings, expect: int, model: NewsClassifier | None = None, timeout_s: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Run the stage until `expect` records are in news.classified, then stop it; return the records."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_classifier(settings, stop, model=model))
    try:
        return await read_topic(
            settings.kafka.bootstrap_servers, settings.topics.classified, expect=expect, timeout_s=timeout_s
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def produce_raw(settings: Settings, items: list[RawItem]) -> None:
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        for it in items:
            await producer.send_and_wait(settings.topics.raw, encode(it), key=encode_key(it))
    finally:
        await producer.stop()


async def test_stage_classifies_every_item_and_commits(settings: Settings, model: NewsClassifier) -> None:
    items = [
        raw(0, "Anti-Putin rebels claim control of Russian border village amid elections",
            "Fighters from Ukraine say they seized Gorkovsky in Belgorod region as Russians vote."),
        raw(1, "Turnout tops 70% in Uruguay's presidential run-off", "The electoral court will publish results."),
        raw(2, "Wheat futures slip as rain eases drought fears", "Chicago prices fell 2%."),
        *[raw(i, f"Local bakery opens branch number {i}", "Bread.") for i in range(3, 40)],
    ]  # fmt: skip
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        for it in items:
            await producer.send_and_wait(settings.topics.raw, encode(it), key=encode_key(it))
        await producer.send_and_wait(settings.topics.raw, b"{broken", key=b"bad-1")
    finally:
        await producer.stop()

    settings = own_group(settings)
    recs = await classify_until(settings, len(items), model)

    out = {decode(ClassifiedItem, r.value).item.id: decode(ClassifiedItem, r.value) for r in recs}
    assert len(recs) == len(items) and set(out) == {i.id for i in items}
    assert all(r.key.decode() == decode(ClassifiedItem, r.value).item.id for r in recs)
    canonical = out["item-0"]
    assert set(canonical.labels) == {"cross_border_incident", "election"}
    assert canonical.model == model.version
    assert {"RU", "UA"} <= {p.code for p in canonical.places}
    assert canonical.explanation["cross_border_incident"]
    assert out["item-1"].labels == ["election"]
    assert out["item-2"].labels == []

    dlq = await read_topic(settings.kafka.bootstrap_servers, settings.topics.dead_letter, expect=1)
    letter = decode(DeadLetter, dlq[0].value)
    assert letter.error_class == "bad_input" and letter.source_key == "bad-1" and letter.payload == "{broken"

    await assert_restart_classifies_only_new_items(settings, len(items), model=model)


async def test_stage_scores_in_worker_processes(settings: Settings, models_dir: Path, model: NewsClassifier) -> None:
    """The production path: two scoring processes that load the model themselves, batches pipelined."""
    cfg = own_group(settings, model_dir=models_dir, model_version=model.version, workers=2, batch_size=16)
    filler = [raw(i, f"Council approves new cycle lane number {i}", "Work starts in May.") for i in range(1, 150)]
    items = [raw(0, "Drone from Belarus crosses into Lithuanian airspace, army says", "Jets were scrambled."), *filler]
    producer = make_producer(cfg.kafka)
    await producer.start()
    try:
        for it in items:
            await producer.send(cfg.topics.raw, encode(it), key=encode_key(it))
        await producer.flush()
    finally:
        await producer.stop()

    recs = await classify_until(cfg, len(items), timeout_s=120)
    out = {decode(ClassifiedItem, r.value).item.id: decode(ClassifiedItem, r.value) for r in recs}
    assert len(recs) == len(items) and set(out) == {i.id for i in items}
    assert out["item-0"].labels == ["cross_border_incident"] and out["item-0"].model == model.version
    # In-process and pooled scoring agree exactly.
    direct = model.predict([(items[0].title, items[0].summary)])[0]
    assert out["item-0"].scores == direct.scores

    await assert_restart_classifies_only_new_items(cfg, len(items))


# Feed entries as pollers see them; three have no title, so normalization derives one from the summary or link.
PARITY_ENTRIES: list[dict[str, Any]] = [
    {"id": "p0", "summary": "The national football federation re-elected its president for a fourth term on Saturday, "
     "with 41 of the 52 regional delegates backing him at the congress in the capital."},
    {"id": "p1", "summary": "Fighters who crossed from Ukraine say they have seized Gorkovsky in Russia's Belgorod "
     "region as Russians vote in the presidential election; Moscow says the attack was repelled."},
    {"id": "p2", "summary": "Polls close in Ghana's presidential run-off."},
    {"id": "p3", "link": "https://news.example.org/2024/03/border-shelling-kharkiv"},
    {"id": "p4", "title": "Anti-Putin rebels claim control of Russian border village amid elections",
     "summary": "Fighters from Ukraine say they seized Gorkovsky in Belgorod region as Russians vote."},
    {"id": "p5", "title": "Wheat futures slip as rain eases drought fears", "summary": "Chicago prices fell 2%."},
]  # fmt: skip


def newsmon_classify(rows: list[dict[str, Any]], models_dir: Path, version: str, tmp: Path) -> dict[str, Any]:
    """Scores per id from `newsmon classify --input`, run as an operator runs it."""
    src, dst, cfg = tmp / "in.jsonl", tmp / "out.jsonl", tmp / "s.yaml"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg.write_text(f"classifier:\n  model_dir: {models_dir}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    proc = subprocess.run([sys.executable, "-m", "monitor", "--settings", str(cfg), "classify", "--input", str(src),
                           "--output", str(dst), "--model", version], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {r["id"]: r["scores"] for r in map(json.loads, dst.read_text(encoding="utf-8").splitlines())}


async def test_stage_and_file_mode_score_the_same_text(
    settings: Settings, models_dir: Path, model: NewsClassifier, tmp_path: Path
) -> None:
    """The Kafka stage and `newsmon classify` give one score per item, however the item's title came about."""
    entries = [ParsedEntry(guid=e["id"], link=e.get("link", ""), title=e.get("title", ""),
                           summary=e.get("summary", "")) for e in PARITY_ENTRIES]  # fmt: skip
    parsed = ParsedFeed(title="", lang="", entries=tuple(entries))
    items, _ = normalize_entries(parsed, FeedConfig(id="f", url="https://news.example.org/rss", name="F"),
                                 fetched_at=datetime.now(UTC), backfill_before=None)  # fmt: skip
    assert [it.title_derived for it in items] == [True, True, True, True, False, False]
    await produce_raw(settings, items)
    cfg = own_group(settings)
    recs = await classify_until(cfg, len(items), model)
    live = {c.item.guid: c.scores for c in (decode(ClassifiedItem, r.value) for r in recs)}

    # The same stories as file rows: the news.raw fields, those of an export that dropped the flag, and the feed's
    # own title and summary (the link-only entry has no text there); every form must score as the stage did.
    raw = [{"id": it.guid, "title": it.title, "summary": it.summary, "title_derived": it.title_derived}
           for it in items]  # fmt: skip
    unflagged = [{k: v for k, v in r.items() if k != "title_derived"} for r in raw]
    own = [{"id": e["id"], "title": e.get("title", ""), "summary": e.get("summary", "")}
           for e in PARITY_ENTRIES if "link" not in e]  # fmt: skip
    assert newsmon_classify(raw, models_dir, model.version, tmp_path) == live
    assert newsmon_classify(unflagged, models_dir, model.version, tmp_path) == live
    assert newsmon_classify(own, models_dir, model.version, tmp_path) == {k: v for k, v in live.items() if k != "p3"}


async def test_stage_with_a_missing_model_version_fails_clearly(settings: Settings, models_dir: Path) -> None:
    cfg = settings.model_copy(update={"classifier": settings.classifier.model_copy(
        update={"model_dir": models_dir, "model_version": "r0-nope", "workers": 2})})  # fmt: skip
    with pytest.raises(ScoringError, match="r0-nope"):
        await asyncio.wait_for(run_classifier(cfg, asyncio.Event()), 60)
