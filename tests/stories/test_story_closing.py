"""Stories the window closed leave the compacted topics: their records and their signatures are tombstoned."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumers.stories.evaluate import LABELED, read_labeled
from consumers.stories.stage import run_stories
from monitor.messages import StorySignature
from monitor.settings import Settings
from monitor.topics import ensure_topics, topic_specs
from tests.stories.test_story_stage import classified, event, produce, storied
from tests.support.kafka import group_caught_up, read_topic
from tests.support.waiting import wait_until


async def own_topics(settings: Settings) -> Settings:
    """Stories on, with a signatures topic and a group of this test's own."""
    prefix = settings.topics.raw.split(".", 1)[0]
    topics = settings.topics.model_copy(update={"story_signatures": f"{prefix}.story-signatures"})
    stories = settings.stories.model_copy(update={"group_id": f"{prefix}-stories", "enabled": True})
    s = settings.model_copy(update={"topics": topics, "stories": stories})
    await ensure_topics(s.kafka, topic_specs(s.topics), 1)
    return s


async def latest(settings: Settings, topic: str) -> dict[str, bytes | None]:
    """Each key's last value on a topic (None for a tombstone)."""
    recs = await read_topic(settings.kafka.bootstrap, topic, idle_s=1.0)
    return {r.key.decode(): r.value for r in recs if r.key is not None}


async def test_a_story_idle_for_a_window_is_tombstoned_with_its_signatures(settings: Settings, tmp_path: Path) -> None:
    settings = await own_topics(settings)
    rows = read_labeled(LABELED)
    sotk = event(rows, "am-az-sotk", 3, 0)
    # A report a window and more later: event time moves on, and Sotk, idle since, closes.
    later_min = int((settings.stories.window_h + 2) * 60)
    later = classified(next(r for r in rows if r["event"] != "am-az-sotk"), 50, later_min=later_min)
    stop = asyncio.Event()
    task = asyncio.create_task(run_stories(settings, stop))
    try:
        await produce(settings, sotk)
        given = await storied(settings, 3)
        await produce(settings, [later])
        given = await storied(settings, 4)
        group = settings.stories.group_id
        assert await wait_until(lambda: group_caught_up(settings.kafka.bootstrap, group, settings.topics.classified))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    sotk_id, later_id = given[sotk[0].item.id][0], given[later.item.id][0]
    assert sotk_id != later_id
    kept = await latest(settings, settings.topics.stories)
    assert kept[sotk_id] is None and kept[later_id] is not None
    signatures = await latest(settings, settings.topics.story_signatures)
    sotk_slots = [StorySignature.key_of(sotk_id, n) for n in range(3)]
    assert all(k in signatures and signatures[k] is None for k in sotk_slots), signatures
    assert signatures[StorySignature.key_of(later_id, 0)] is not None
