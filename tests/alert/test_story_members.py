"""Two alert-stage members in one group on `news.storied`: each story alerts once per rule, and only the member
owning the story's partition updates it, an update waiting at the rebalance that hands the story over included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from structlog.contextvars import bound_contextvars, merge_contextvars
from structlog.testing import capture_logs

from consumers.alert.rules import RuleSet, parse_rules
from consumers.stories.domains import registered_domain
from monitor.messages import Alert, ClassifiedItem, Story, StoryMember, decode, encode, encode_key
from monitor.ops.readiness import Readiness
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.stream.produce import Outgoing, produce_each
from monitor.topics import ensure_topics, topic_specs
from tests.support.alerts import FILE_SINK_RULES, alerting, classified, fast
from tests.support.kafka import group_caught_up, read_topic
from tests.support.waiting import wait_for, wait_until

PARTITIONS = 4
# Long enough that the second outlets' updates are still waiting when the second member joins.
INTERVAL_S = 4.0


def partition_of(story_id: str) -> int:
    """The partition the story stage's producer writes a story's items to (keyed by story id)."""
    return int(DefaultPartitioner()(story_id.encode(), list(range(PARTITIONS)), None))


def two_stories_per_partition() -> list[str]:
    found: dict[int, list[str]] = {}
    n = 0
    while any(len(found.get(p, [])) < 2 for p in range(PARTITIONS)):
        sid = f"story-{n}"
        if len(found.setdefault(partition_of(sid), [])) < 2:
            found[partition_of(sid)].append(sid)
        n += 1
    return sorted(sid for ids in found.values() for sid in ids)


STORIES = two_stories_per_partition()


def report(story_id: str, outlet: int) -> ClassifiedItem:
    """The report of outlet number `outlet` (on a domain of its own) of a story, as the story stage writes it."""
    c = classified(f"{story_id}-{outlet}", title=f"Shelling across the border, {story_id}", source=f"Outlet {outlet}")
    item = c.item.model_copy(update={"url": f"https://www.outlet{outlet}.example/news/{story_id}"})
    return c.model_copy(update={"story_id": story_id, "item": item, "schema_version": ClassifiedItem.SCHEMA_VERSION})


def record(story_id: str, outlets: int) -> Story:
    """The story's record once `outlets` outlets reported it."""
    items = [report(story_id, n).item for n in range(1, outlets + 1)]
    members = [StoryMember(item_id=i.id, outlet=i.source, domain=registered_domain(i.url), published=i.published)
               for i in items]  # fmt: skip
    return Story(story_id=story_id, first_seen=items[0].published, last_seen=items[-1].published,
                 headline=items[0].title, members=members, member_count=outlets,
                 domains=[m.domain for m in members])  # fmt: skip


async def send_outlet(settings: Settings, outlet: int) -> None:
    """Outlet number `outlet` reports every story: its items on news.storied, the grown records on news.stories."""
    t = settings.topics
    items = [report(sid, outlet) for sid in STORIES]
    out = [Outgoing(t.storied, encode_key(c), encode(c)) for c in items]
    out += [Outgoing(t.stories, encode_key(s), encode(s)) for s in (record(sid, outlet) for sid in STORIES)]
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        await produce_each(producer, out)
    finally:
        await producer.stop()


def story_rules(tmp_path: Path) -> RuleSet:
    text = FILE_SINK_RULES + "  - id: incidents\n    labels: {cross_border_incident: 0.6}\n"
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return parse_rules(text, path)


async def on_stories(settings: Settings) -> Settings:
    """Alerting on stories, with news.storied on several partitions so two members share them."""
    topics = settings.topics.model_copy(update={"partitions": PARTITIONS, "storied": settings.topics.storied + "4"})
    stories = settings.stories.model_copy(update={"enabled": True})
    s = fast(settings.model_copy(update={"topics": topics, "stories": stories}), update_interval_min=INTERVAL_S / 60)
    await ensure_topics(s.kafka, topic_specs(s.topics), 1)
    return s


def sent(logs: list[dict[str, Any]], kind: str, since: int = 0) -> list[dict[str, Any]]:
    """The alerts (or updates) the members logged as produced, each with the member that produced it."""
    return [e for e in logs[since:] if e["event"] == "alert.matched" and e["kind"] == kind]


async def read_up(settings: Settings) -> bool:
    """Whether the members committed all of news.storied."""
    bootstrap, group = settings.kafka.bootstrap, settings.alerts.matcher_group_id
    return await group_caught_up(bootstrap, group, settings.topics.storied)


def updated(logs: list[dict[str, Any]], times: int) -> bool:
    stories = [e["story_id"] for e in sent(logs, "update")]
    return all(stories.count(sid) >= times for sid in STORIES)


async def test_two_members_alert_each_story_once_and_only_the_partitions_owner_updates_it(
    settings: Settings, tmp_path: Path
) -> None:
    settings = await on_stories(settings)
    rules = story_rules(tmp_path)
    first, second = Readiness(), Readiness()
    with capture_logs(processors=[merge_contextvars]) as logs:
        with bound_contextvars(member="first"):
            async with alerting(settings, rules, delivery=False, readiness=first):
                assert await wait_for(first.ready, 30)
                await send_outlet(settings, 1)
                assert await wait_for(lambda: len(sent(logs, "alert")) == len(STORIES), 20)
                # A second outlet within the interval: every story's update waits, kept in the alert state.
                await send_outlet(settings, 2)
                assert await wait_until(lambda: read_up(settings))
                with bound_contextvars(member="second"):
                    async with alerting(settings, rules, delivery=False, readiness=second):
                        assert await wait_for(second.ready, 30)
                        handed_over = len(logs)
                        assert await wait_for(lambda: updated(logs, 1), 20)
                        await send_outlet(settings, 3)
                        assert await wait_for(lambda: updated(logs, 2), 20)
                        records = await read_topic(settings.kafka.bootstrap, settings.topics.alerts, idle_s=1.5)
    alerts = [decode(Alert, r.value) for r in records]
    for sid in STORIES:
        mine = [a for a in alerts if a.story is not None and a.story.story_id == sid]
        assert [a.kind for a in mine if a.kind == "alert"] == ["alert"], sid
        assert sorted(a.story.update for a in mine if a.kind == "update" and a.story) == [1, 2], sid
    # Past the hand-over, a partition's stories are updated by one member alone, and each member owns some.
    owners: dict[int, set[str]] = {}
    for e in sent(logs, "update", handed_over):
        owners.setdefault(partition_of(e["story_id"]), set()).add(e["member"])
    assert all(len(members) == 1 for members in owners.values()), owners
    assert set().union(*owners.values()) == {"first", "second"}, owners
