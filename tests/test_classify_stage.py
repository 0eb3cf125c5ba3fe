"""The classifier stage on the real broker: every raw item classified once, offsets committed after producing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from classifiers.model import NewsClassifier
from consumers.classify import run_classifier
from consumers.scoring import ScoringError
from monitor.kafka import make_producer
from monitor.messages import ClassifiedItem, DeadLetter, RawItem, decode, encode, encode_key
from monitor.settings import Settings
from tests.support.kafka import committed_offsets, end_offsets, read_topic


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
    stop = asyncio.Event()
    task = asyncio.create_task(run_classifier(settings, stop, model=model))
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.classified, expect=len(items))
    stop.set()
    await asyncio.wait_for(task, 30)

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

    stop = asyncio.Event()
    task = asyncio.create_task(run_classifier(cfg, stop))
    recs = await read_topic(cfg.kafka.bootstrap_servers, cfg.topics.classified, expect=len(items), timeout_s=120)
    stop.set()
    await asyncio.wait_for(task, 60)
    out = {decode(ClassifiedItem, r.value).item.id: decode(ClassifiedItem, r.value) for r in recs}
    assert len(recs) == len(items) and set(out) == {i.id for i in items}
    assert out["item-0"].labels == ["cross_border_incident"] and out["item-0"].model == model.version
    # In-process and pooled scoring agree exactly.
    direct = model.predict([(items[0].title, items[0].summary)])[0]
    assert out["item-0"].scores == direct.scores

    await assert_restart_classifies_only_new_items(cfg, len(items))


async def test_stage_with_a_missing_model_version_fails_clearly(settings: Settings, models_dir: Path) -> None:
    cfg = settings.model_copy(update={"classifier": settings.classifier.model_copy(
        update={"model_dir": models_dir, "model_version": "r0-nope", "workers": 2})})  # fmt: skip
    with pytest.raises(ScoringError, match="r0-nope"):
        await asyncio.wait_for(run_classifier(cfg, asyncio.Event()), 60)
