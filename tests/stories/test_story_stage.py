"""The story stage on the real broker: one story per event across outlets, look-alikes apart, restarts never split;
and alerting on its stories: one alert per event, a bounded number of updates, corroboration by outlets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from consumers.alert.rules import RuleSet
from consumers.stories.evaluate import LABELED, read_labeled
from consumers.stories.stage import run_stories
from monitor.messages import ClassifiedItem, Place, RawItem, Story, decode, encode, encode_key
from monitor.ops.readiness import Readiness
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.stream.produce import Outgoing, produce_each
from tests.support.alerts import SECRET, alerting, fast, webhook_rules
from tests.support.kafka import read_topic
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def classified(row: dict[str, Any], n: int, title: str = "", lead: str = "", later_min: int = 0) -> ClassifiedItem:
    """A classified item of a labeled row, as published by feed number `n` on a domain of its own."""
    at = datetime.fromisoformat(row["published"].replace("Z", "+00:00")) + timedelta(minutes=later_min)
    raw = RawItem(
        id=f"{row['id']}-{n}", feed_id=f"feed-{n}", feed_url=f"https://feeds.outlet{n}.example/rss",
        source=f"Outlet {n}", url=f"https://www.outlet{n}.example/news/{row['id']}", title=title or row["title"],
        summary=lead or row["lead"], published=at, fetched_at=at, lang=row["lang"], content_hash=f"h{n}",
    )  # fmt: skip
    return ClassifiedItem(item=raw, scores={"cross_border_incident": 0.9, "election": 0.01}, labels=row["labels"],
                          model="m", places=[Place(**p) for p in row["places"]])  # fmt: skip


def event(rows: list[dict[str, Any]], key: str, count: int, first_feed: int) -> list[ClassifiedItem]:
    """`count` reports of one event from as many feeds: its labeled items, then wire copies with datelines."""
    mine = [r for r in rows if r["event"] == key]
    wire = mine[0]
    items = [classified(r, first_feed + n) for n, r in enumerate(mine)]
    for n in range(len(mine), count):
        title = f"{wire['title']} | Outlet {first_feed + n}"
        items.append(classified(wire, first_feed + n, title, f"(Outlet {first_feed + n}) {wire['lead']}", n))
    return items[:count]


async def produce(settings: Settings, items: list[ClassifiedItem]) -> None:
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        topic = settings.topics.classified
        await produce_each(producer, [Outgoing(topic, encode_key(i), encode(i)) for i in items])
    finally:
        await producer.stop()


async def storied(settings: Settings, expect: int) -> dict[str, list[str]]:
    """Item id -> the story ids it was given on `news.storied`, once `expect` records arrived."""
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.storied, expect=expect, idle_s=0.5)
    out: dict[str, list[str]] = {}
    for r in recs:
        msg = decode(ClassifiedItem, r.value)
        assert msg.schema_version == 2
        # Keyed by story: a story's items share a partition, so one alert-stage member decides all of its alerts.
        assert r.key == msg.story_id.encode()
        out.setdefault(msg.item.id, []).append(msg.story_id)
    assert sum(len(v) for v in out.values()) == expect
    return out


async def stories(settings: Settings) -> dict[str, Story]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.stories, idle_s=1.0)
    return {r.key.decode(): decode(Story, r.value) for r in recs if r.key is not None and r.value is not None}


# A story's later outlets update its alert at most this often in the test (the default is 15 minutes).
UPDATE_INTERVAL_S = 1.0
CORROBORATED = "  - id: corroborated\n    labels: [cross_border_incident]\n    sinks: [hook]\n    min_outlets: 3\n"


async def test_one_story_per_event_from_twenty_feeds_two_for_look_alikes_and_none_split_by_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    group = settings.topics.raw.split(".", 1)[0] + "-stories"
    on_stories = settings.stories.model_copy(update={"group_id": group, "enabled": True})
    settings = settings.model_copy(update={"stories": on_stories})
    settings = fast(settings, update_interval_min=UPDATE_INTERVAL_S / 60)
    rows = read_labeled(LABELED)
    sotk = event(rows, "am-az-sotk", 20, 0)  # Monday: shelling of Sotk, with a Russian and a French report
    tegh = event(rows, "am-az-tegh", 3, 100)  # Tuesday: fire on Tegh, worded much like it
    hook = Receiver(secrets={"k2": SECRET})
    await hook.start()
    rules = webhook_rules(tmp_path, {"hook": hook.url}, extra_rules=CORROBORATED)
    started = asyncio.get_running_loop().time()
    try:
        sotk_id, tegh_id = await run_the_story_stage_twice(settings, sotk, tegh, (hook, rules), tmp_path)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await hook.stop()
    assert len(messages(hook, "incidents", sotk_id, "alert")) == 1
    assert len(messages(hook, "incidents", tegh_id, "alert")) == 1
    updates = messages(hook, "incidents", sotk_id, "update")
    assert 1 <= len(updates) <= elapsed / UPDATE_INTERVAL_S + 1, (len(updates), elapsed)
    assert updates[-1]["coverage"]["outlets"] == 20 and len({u["event_id"] for u in updates}) == len(updates)
    assert len(messages(hook, "corroborated", sotk_id, "alert")) == 1
    assert len(messages(hook, "corroborated", tegh_id, "alert")) == 1
    assert max(hook.accepted.values()) == 1  # no message twice, the restarts of both stages included


def messages(hook: Receiver, rule: str, story_id: str, kind: str = "") -> list[dict[str, Any]]:
    """The alerts (or updates) the receiver accepted for a rule and a story."""
    out = []
    for r in hook.requests:
        if r.status == 200:
            for a in json.loads(r.body)["alerts"]:
                cov = a["coverage"] or {}
                if a["rule"]["id"] == rule and cov.get("story_id") == story_id and a["kind"] == (kind or a["kind"]):
                    out.append(a)
    return out


def announced(hook: Receiver, story_id: str) -> int:
    """Outlets the story's alert and updates announced: those its alert counted, then each update's new ones."""
    first = messages(hook, "incidents", story_id, "alert")
    updates = messages(hook, "incidents", story_id, "update")
    return sum(a["coverage"]["outlets"] for a in first) + sum(len(u["coverage"]["new_sources"]) for u in updates)


async def run_the_story_stage_twice(
    settings: Settings,
    sotk: list[ClassifiedItem],
    tegh: list[ClassifiedItem],
    alerts: tuple[Receiver, RuleSet],
    tmp_path: Path,
) -> tuple[str, str]:
    """The story stage's own checks, with alerting alongside; both restart mid-stream. Return the stories' ids."""
    hook, rules = alerts
    ready = Readiness()
    async with alerting(settings, rules, readiness=ready):
        stop = asyncio.Event()
        task = asyncio.create_task(run_stories(settings, stop))
        try:
            assert await wait_for(ready.ready, 30)  # alerting runs before the first report: it counts them one by one
            await produce(settings, sotk[:10])
            assert len(await storied(settings, 10)) == 10
            # The first alert of each rule; the other outlets wait for the update interval, across the restart.
            assert await wait_for(lambda: len(hook.accepted) >= 2, 20)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    # Restarted mid-stream: the story is rebuilt from news.stories; an item read again keeps its story.
    stop = asyncio.Event()
    task = asyncio.create_task(run_stories(settings, stop))
    try:
        async with alerting(settings, rules):
            return await second_half(settings, sotk, tegh, hook, tmp_path)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def second_half(
    settings: Settings, sotk: list[ClassifiedItem], tegh: list[ClassifiedItem], hook: Receiver, tmp_path: Path
) -> tuple[str, str]:
    """The second half on the restarted stages: the rest of Sotk, Tegh held until its third outlet, every outlet
    of Sotk announced by its alert and updates."""
    await produce(settings, sotk[10:] + tegh[:2] + sotk[:1])
    given = await storied(settings, 10 + 10 + 2 + 1)
    tegh_id = given[tegh[0].item.id][0]
    assert {sid for i in tegh[:2] for sid in given[i.item.id]} == {tegh_id}
    # Two outlets report Tegh: the rule that wants three holds it (it alerts on Sotk, which has twenty).
    assert await wait_for(lambda: len(messages(hook, "incidents", tegh_id, "alert")) == 1, 20)
    assert messages(hook, "corroborated", tegh_id) == []
    await produce(settings, tegh[2:])
    given = await storied(settings, 10 + 10 + 3 + 1)
    sotk_ids = {sid for i in sotk for sid in given[i.item.id]}
    assert len(sotk_ids) == 1 and {sid for i in tegh for sid in given[i.item.id]} == {tegh_id} != sotk_ids
    sotk_id = sotk_ids.pop()
    # The third outlet's report of Tegh releases the corroborated alert.
    assert await wait_for(lambda: len(messages(hook, "corroborated", tegh_id, "alert")) == 1, 20)
    kept = await stories(settings)
    assert set(kept) == {sotk_id, tegh_id}
    story = kept[sotk_id]
    assert story.member_count == 20 and story.outlets == 20 and len(story.members) == 20
    assert story.headline == sotk[0].item.title and {m.lang for m in story.members} >= {"en", "ru", "fr"}
    assert story.labels == ["cross_border_incident"] and {p.name for p in story.places} >= {"Sotk", "Armenia"}
    assert kept[tegh_id].member_count == 3
    await assert_command_line_shows(settings, tmp_path, story)
    # Every outlet announced: the last update waits out its interval after the last report.
    assert await wait_for(lambda: announced(hook, sotk_id) == 20, 20), announced(hook, sotk_id)
    return sotk_id, tegh_id


async def newsmon(settings: Settings, config: Path, *args: str) -> str:
    """Run the real command line in its own process; its standard output."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    child["NEWSMON_KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap_servers
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "--settings", str(config), *args,
        cwd=REPO, env=child, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def assert_command_line_shows(settings: Settings, tmp_path: Path, story: Story) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"topics": settings.topics.model_dump(), "metrics": {"port": 0}}))
    listed = [json.loads(line) for line in (await newsmon(settings, config, "stories", "list", "--json")).splitlines()]
    # Both stories are open: the look-alike a day later is well inside the 72 h window.
    assert [s["story_id"] for s in listed][1] == story.story_id and len(listed) == 2
    assert listed[1]["outlets"] == 20 and listed[1]["headline"] == story.headline
    shown = await newsmon(settings, config, "stories", "show", story.story_id)
    assert "reported by 20 outlets in 20 items" in shown and shown.count("outlet") >= 20
