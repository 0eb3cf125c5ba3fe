"""Where the story stage keeps its stories: in a process of its own or in its event loop, bad input is dead-lettered
with its reason, and an item passes to `news.storied` whole, with its story; a keeper process that dies stops it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import psutil
import pytest
from prometheus_client import REGISTRY

from consumers.stories.evaluate import LABELED, read_labeled
from consumers.stories.stage import run_stories
from consumers.stories.worker import KeeperFailed, KeeperProcess
from monitor.messages import ClassifiedItem, Contribution, DeadLetter, decode
from monitor.ops.readiness import Readiness
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from tests.stories.test_story_closing import own_topics
from tests.stories.test_story_stage import classified, storied
from tests.support.kafka import read_topic
from tests.support.waiting import wait_for

# What the batch of four values below adds to the stage's counts: three go to the dead letters.
COUNTS = {"newsmon_stage_items_in_total": 4, "newsmon_stage_items_out_total": 1,
          "newsmon_dead_letters_total": 3}  # fmt: skip


def sample(name: str) -> float:
    labels = {"stage": "stories"} | ({"reason": "bad_input"} if "dead_letters" in name else {})
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("own_process", [True, False])
async def test_bad_input_is_dead_lettered_and_an_item_passes_whole_with_its_story(
    settings: Settings, tmp_path: Path, own_process: bool
) -> None:
    settings = await own_topics(settings)
    settings = settings.model_copy(update={"stories": settings.stories.model_copy(update={"own_process": own_process})})
    good = classified(read_labeled(LABELED)[0], 1).model_copy(
        update={"explanation": {"election": [Contribution(feature="w:vote", weight=1.5)]}}
    )
    newer = json.loads(good.model_dump_json()) | {"schema_version": 99}
    values = [b"not json", json.dumps(newer).encode(), None, good.model_dump_json().encode()]
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.topics.classified, value, key=b"k")
    finally:
        await producer.stop()
    before = {name: sample(name) for name in COUNTS}
    stop, ready = asyncio.Event(), Readiness()
    task = asyncio.create_task(run_stories(settings, stop, ready))
    try:
        given = await storied(settings, 1)
        letters = await read_topic(settings.kafka.bootstrap, settings.topics.dead_letter, expect=3)
        # Counted once the batch is committed, after its records are on the topics.
        assert await wait_for(lambda: sample("newsmon_stage_items_out_total") > before["newsmon_stage_items_out_total"])
        report = ready.report()
        assert report["ready"] and set(report["checks"]) == {"stories.loaded", "stories.partitions"}, report
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert {name: sample(name) - before[name] for name in COUNTS} == COUNTS
    reasons = [decode(DeadLetter, r.value).reason for r in letters]
    assert len(reasons) == 3 and "schema_version" in reasons[1] and "empty value" in reasons[2], reasons
    out = await read_topic(settings.kafka.bootstrap, settings.topics.storied, expect=1)
    assert decode(ClassifiedItem, out[0].value) == good.model_copy(
        update={"story_id": given[good.item.id][0], "schema_version": 2}
    )


async def test_a_keeper_process_that_dies_fails_the_batch_instead_of_losing_it(settings: Settings) -> None:
    before = {p.pid for p in psutil.Process().children()}
    keeper = KeeperProcess(settings.topics, settings.stories)
    try:
        assert await keeper.rebuild({}, {}) == (0, [])
        workers = [p for p in psutil.Process().children() if p.pid not in before and _pool_worker(p)]
        assert len(workers) == 1
        os.kill(workers[0].pid, signal.SIGKILL)
        with pytest.raises(KeeperFailed, match="died"):
            await keeper.assign(keeper.read([classified(read_labeled(LABELED)[0], 1).model_dump_json().encode()]))
    finally:
        keeper.close()


def _pool_worker(p: psutil.Process) -> bool:
    return any("spawn_main" in part for part in p.cmdline())
