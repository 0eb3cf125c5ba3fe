"""The classifier stage on the real broker: every raw item classified once, offsets committed after producing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classifiers.model import NewsClassifier
from consumers.classify import run_classifier
from consumers.scoring import ScoringError
from monitor.kafka import make_producer
from monitor.messages import ClassifiedItem, DeadLetter, RawItem, decode, encode, encode_key
from monitor.settings import Settings
from tests.support.kafka import read_topic


def raw(i: int, title: str, summary: str = "") -> RawItem:
    now = datetime.now(UTC)
    return RawItem(id=f"item-{i}", feed_id="f", feed_url="https://f.example/rss", source="F", title=title,
                   summary=summary, published=now, fetched_at=now, content_hash=f"h{i}")  # fmt: skip


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

    # A restart of the stage finds everything committed: nothing is classified twice.
    stop2 = asyncio.Event()
    task2 = asyncio.create_task(run_classifier(settings, stop2, model=model))
    await asyncio.sleep(4)
    stop2.set()
    await asyncio.wait_for(task2, 30)
    again = await read_topic(settings.kafka.bootstrap_servers, settings.topics.classified, idle_s=0.5)
    assert len(again) == len(items)


async def test_stage_scores_in_worker_processes(settings: Settings, models_dir: Path, model: NewsClassifier) -> None:
    """The production path: two scoring processes that load the model themselves, batches pipelined."""
    cfg = settings.model_copy(update={"classifier": settings.classifier.model_copy(
        update={"model_dir": models_dir, "model_version": model.version, "workers": 2, "batch_size": 16})})  # fmt: skip
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

    # Everything was committed: a restart produces nothing more.
    stop2 = asyncio.Event()
    task2 = asyncio.create_task(run_classifier(cfg, stop2))
    await asyncio.sleep(4)
    stop2.set()
    await asyncio.wait_for(task2, 60)
    again = await read_topic(cfg.kafka.bootstrap_servers, cfg.topics.classified, idle_s=0.5)
    assert len(again) == len(items)


async def test_stage_with_a_missing_model_version_fails_clearly(settings: Settings, models_dir: Path) -> None:
    cfg = settings.model_copy(update={"classifier": settings.classifier.model_copy(
        update={"model_dir": models_dir, "model_version": "r0-nope", "workers": 2})})  # fmt: skip
    with pytest.raises(ScoringError, match="r0-nope"):
        await asyncio.wait_for(run_classifier(cfg, asyncio.Event()), 60)
