"""Alerting on stories without a broker: first alert, updates at most once per interval, corroboration, tiers,
the single-source mark, state that survives a restart, and the Slack Web API threading or editing updates."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from consumers.alert.on_stories import StoryAlerter, story_event_id
from consumers.alert.outlets import StoryBook
from consumers.alert.rules import Rule, RuleSet, parse_rules
from consumers.alert.suppression import SuppressionStore
from consumers.deliver.payload import envelope
from consumers.deliver.sinks.config import resolve_sink
from consumers.deliver.sinks.slack import render_slack
from consumers.deliver.sinks.slack_api import SlackApiSink
from consumers.replay.commands import summary
from consumers.replay.request import ReplayRequest
from monitor.messages import Alert, ClassifiedItem, Story, StoryMember, Tier, encode, utcnow
from monitor.settings import ClassifierSettings, ConfigError, KafkaSettings, Settings, StorySettings
from tests.support.alerts import classified

T0 = utcnow()


def report(n: int, story: str = "s1", tier: Tier = "outlet", outlet: int | None = None) -> ClassifiedItem:
    """Report `n` of a story from outlet number `outlet` (default: its own outlet, on a domain of its own)."""
    c = classified(n, title=f"Shelling across the border, report {n}", source=f"Outlet {outlet or n}")
    host = f"https://www.outlet{outlet or n}.example/news/{n}"
    return c.model_copy(update={"story_id": story, "item": c.item.model_copy(update={"url": host, "tier": tier})})


def rules(tmp_path: Path, options: str = "") -> RuleSet:
    text = (
        "version: 1\nsinks:\n  out: {type: file, path: '-'}\nrules:\n"
        f"  - id: incidents\n    labels: {{cross_border_incident: 0.6}}\n    sinks: [out]\n{options}"
    )
    return parse_rules(text, tmp_path / "rules.yaml")


def store() -> SuppressionStore:
    # The table is only read and written in memory here; nothing reaches a broker.
    return SuppressionStore(KafkaSettings(), "alert-state", 3600.0, None)  # type: ignore[arg-type]


def allow(_: Rule) -> bool:
    return True


def test_a_story_alerts_once_then_updates_at_most_once_per_interval_with_its_new_outlets(tmp_path: Path) -> None:
    st = store()
    alerter = StoryAlerter(rules(tmp_path), st, StoryBook(timedelta(hours=72)), interval_s=900)
    first = alerter.on_item(report(1), T0, allow)
    assert [a.kind for a in first] == ["alert"] and first[0].story is not None
    assert first[0].event_id == story_event_id("incidents", "s1") and first[0].story.outlets == 1
    # Three more outlets within the interval: nothing now, one update once it has passed.
    for n in (2, 3, 4):
        assert alerter.on_item(report(n), T0 + timedelta(minutes=n), allow) == []
    assert alerter.on_item(report(5, outlet=2), T0 + timedelta(minutes=6), allow) == []  # a known outlet
    assert alerter.due(T0 + timedelta(minutes=14)) == []
    (update,) = alerter.due(T0 + timedelta(minutes=15))
    assert update.kind == "update" and update.story is not None and update.story.story_id == "s1"
    assert update.event_id not in (first[0].event_id, "") and update.story.first_event_id == first[0].event_id
    assert update.story.outlets == 4 and update.story.new_sources == ["Outlet 2", "Outlet 3", "Outlet 4"]
    assert update.story.update == 1 and update.item.item.id == "item-2"
    assert alerter.due(T0 + timedelta(hours=2)) == []
    # The next new outlet after the interval updates at once.
    (again,) = alerter.on_item(report(6), T0 + timedelta(minutes=31), allow)
    assert again.story is not None and again.story.update == 2 and again.story.new_sources == ["Outlet 6"]
    body = envelope([again])
    assert body["type"] == "update" and body["alerts"][0]["coverage"]["story_id"] == "s1"
    assert "reported by 5 outlets" in json.dumps(render_slack([again]))


def test_a_restart_neither_alerts_a_story_again_nor_loses_its_waiting_update(tmp_path: Path) -> None:
    st, book = store(), StoryBook(timedelta(hours=72))
    before = StoryAlerter(rules(tmp_path), st, book, interval_s=60)
    assert len(before.on_item(report(1), T0, allow)) == 1
    assert before.on_item(report(2), T0 + timedelta(seconds=10), allow) == []
    written = st.take_changed()
    # A new process: the states as read back from the topic, the story from its record on the stories topic.
    after_store = store()
    for x in written:
        after_store.note(x)
    after_book = StoryBook(timedelta(hours=72))
    after_book.restore(story_record("s1", [report(1), report(2)]))
    after = StoryAlerter(rules(tmp_path), after_store, after_book, interval_s=60)
    assert after.resume() == 1
    assert after.on_item(report(1), T0 + timedelta(seconds=20), allow) == []  # read again: no second alert
    (update,) = after.due(T0 + timedelta(seconds=61))
    assert update.story is not None and update.story.new_sources == ["Outlet 2"] and update.story.update == 1


def story_record(story_id: str, items: list[ClassifiedItem]) -> Story:
    members = [StoryMember(item_id=c.item.id, outlet=c.item.source, domain=c.item.url.split("/")[2][4:],
                           published=c.item.published) for c in items]  # fmt: skip
    return Story(story_id=story_id, first_seen=T0, last_seen=T0, headline="h", members=members,
                 member_count=len(members), domains=sorted({m.domain for m in members}))  # fmt: skip


def test_min_outlets_holds_a_story_until_enough_outlets_report_it_unless_a_trusted_tier_does(tmp_path: Path) -> None:
    ruled = rules(tmp_path, "    min_outlets: 3\n    trusted_tiers: [wire]\n")
    alerter = StoryAlerter(ruled, store(), StoryBook(timedelta(hours=72)), interval_s=900)
    assert alerter.on_item(report(1), T0, allow) == []
    assert alerter.on_item(report(2), T0, allow) == []
    assert alerter.on_item(report(3, outlet=1), T0, allow) == []  # a second report of the first outlet
    (a,) = alerter.on_item(report(4), T0, allow)
    assert a.story is not None and a.story.outlets == 3 and "reported by 3 outlets (at least 3)" in a.reasons
    (wire,) = alerter.on_item(report(9, story="s2", tier="wire"), T0, allow)
    assert wire.story is not None and wire.story.outlets == 1 and "trusted source (wire)" in wire.reasons


def test_a_story_told_by_one_aggregator_alone_is_marked_unverified(tmp_path: Path) -> None:
    alerter = StoryAlerter(rules(tmp_path), store(), StoryBook(timedelta(hours=72)), interval_s=0)
    (a,) = alerter.on_item(report(1, tier="aggregator"), T0, allow)
    assert a.story is not None and a.story.unverified
    assert envelope([a])["alerts"][0]["coverage"]["unverified"] is True
    assert "single source, unverified" in json.dumps(render_slack([a]))
    (u,) = alerter.on_item(report(2), T0 + timedelta(seconds=1), allow)
    assert u.story is not None and not u.story.unverified and u.story.outlets == 2


class SlackApi:
    """A local stand-in for Slack's chat.postMessage and chat.update."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append((request.match_info["method"], body, request.headers.get("Authorization", "")))
        if body.get("channel") == "#gone":
            return web.json_response({"ok": False, "error": "channel_not_found"})
        ts = body.get("ts") or f"1700000000.{len(self.calls):06d}"
        return web.json_response({"ok": True, "channel": "C1", "ts": ts})

    async def __aenter__(self) -> SlackApi:
        app = web.Application()
        app.router.add_post("/api/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}/api"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def slack_sink(tmp_path: Path, api: SlackApi, updates: str, channel: str = "#alerts") -> SlackApiSink:
    (tmp_path / "token").write_text("xoxb-test-token\n")
    text = (
        f"version: 1\nsinks:\n  chat: {{type: slack_api, channel: '{channel}', token_file: {tmp_path / 'token'},"
        f" api_base: '{api.base}', updates: {updates}}}\nrules:\n  - id: r\n    labels: [election]\n    sinks: [chat]\n"
    )
    ruled = parse_rules(text, tmp_path / "rules.yaml")
    resolved = resolve_sink("chat", ruled.sinks["chat"])
    assert resolved is not None and "xoxb-test-token" not in repr(resolved)
    return SlackApiSink(resolved, aiohttp.ClientSession())


async def first_and_update(tmp_path: Path) -> tuple[Alert, Alert]:
    alerter = StoryAlerter(rules(tmp_path), store(), StoryBook(timedelta(hours=72)), interval_s=0)
    (first,) = alerter.on_item(report(1), T0, allow)
    (update,) = alerter.on_item(report(2), T0 + timedelta(seconds=1), allow)
    return first, update


async def test_slack_web_api_threads_updates_under_the_alert_or_edits_it(tmp_path: Path) -> None:
    first, update = await first_and_update(tmp_path)
    async with SlackApi() as api:
        refs: dict[str, str] = {}
        firsts = []
        for mode in ("thread", "edit"):
            sink = slack_sink(tmp_path, api, mode)
            sink.references = lambda eid: refs.get(eid, "")
            try:
                sent = await sink.send([first], 1)
                assert sent.ok and sent.reference.startswith("C1 1700000000.")
                refs[first.event_id] = sent.reference
                after = await sink.send([update], 1)
                assert after.ok and after.reference == sent.reference
                firsts.append(sent.reference.split()[1])
            finally:
                await sink._session.close()
    (m1, b1, auth), (m2, b2, _), (m3, _, _), (m4, b4, _) = api.calls
    assert auth == "Bearer xoxb-test-token" and m1 == m3 == "chat.postMessage" and b1["channel"] == "#alerts"
    assert m2 == "chat.postMessage" and b2["thread_ts"] == firsts[0] and b2["channel"] == "C1"
    assert "reported by 2 outlets" in json.dumps(b2) and "new: Outlet 2" in json.dumps(b2)
    assert m4 == "chat.update" and b4["ts"] == firsts[1] and "thread_ts" not in b4 and "Outlet 2" in json.dumps(b4)


async def test_slack_web_api_says_which_failures_are_final(tmp_path: Path) -> None:
    first, update = await first_and_update(tmp_path)
    async with SlackApi() as api:
        sink = slack_sink(tmp_path, api, "thread", channel="#gone")
        try:
            out = await sink.send([first], 1)
            # Without the alert's message the update is posted on its own, and fails the same way.
            orphan = await sink.send([update], 1)
        finally:
            await sink._session.close()
    assert not out.ok and not out.retryable and out.error == "Slack: channel_not_found"
    assert not orphan.ok and "thread_ts" not in api.calls[1][1]


async def test_a_replay_on_stories_counts_one_alert_per_event_and_its_updates(tmp_path: Path) -> None:
    from consumers.replay.run import run_replay
    from consumers.stories.evaluate import LABELED, read_labeled
    from tests.stories.test_story_stage import event

    labeled = read_labeled(LABELED)
    items = event(labeled, "am-az-sotk", 20, 0) + event(labeled, "am-az-tegh", 3, 100)
    # Recorded a minute apart, Tegh a day after Sotk; the live clock of a replay is the record time.
    start = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    stamps = [start + timedelta(minutes=n) for n in range(20)] + [
        start + timedelta(days=1, minutes=n) for n in range(3)
    ]
    path = corpus(tmp_path, list(zip(items, stamps, strict=True)))
    ruled = tmp_path / "replay-rules.yaml"
    ruled.write_text(
        "version: 1\nsinks:\n  out: {type: file, path: '-'}\ndefaults: {sinks: [out]}\nrules:\n"
        "  - {id: incidents, labels: [cross_border_incident]}\n"
        "  - {id: corroborated, labels: [cross_border_incident], min_outlets: 3}\n"
    )
    req = ReplayRequest(topic="", since=datetime(2000, 1, 1, tzinfo=UTC), rules_path=ruled, from_file=path)
    base = Settings(kafka=KafkaSettings(bootstrap="127.0.0.1:1"), classifier=ClassifierSettings(workers=1))
    on = base.model_copy(update={"stories": StorySettings(enabled=True)})
    report = await run_replay(on, req)
    st = report["stories"]
    # Two events, one alert each per rule; the rule wanting three outlets held each event's first two reports.
    assert st["stories"] == 2 and st["outlets_per_story"] == {"3-4": 1, "20+": 1}
    assert report["alerts"]["total"] == st["alerts"] == 4 and report["alerts"]["by_rule"] == {
        "corroborated": 2,
        "incidents": 2,
    }
    assert st["held_for_outlets"] == 4
    # Updates at most every 15 minutes: Sotk's alerts (minute 0 and 2) each at minute 15 or 17 and once more for
    # the outlets after that; Tegh's first alert once for its later two outlets; its corroborated alert has none.
    assert st["updates"] == 2 + 2 + 1, st
    assert "stories: 2" in summary(report)


def corpus(tmp_path: Path, items: list[tuple[ClassifiedItem, datetime]]) -> Path:
    """A replay corpus (the format of `newsmon export`) of classified items with their record times."""
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        header = {"kind": "header", "format": "newsmon-replay-corpus/1", "role": "classified", "topic": "t",
                  "spans": [[0, 0, len(items)]]}  # fmt: skip
        out.write(json.dumps(header) + "\n")
        for n, (c, at) in enumerate(items):
            out.write(json.dumps({"kind": "record", "topic": "t", "partition": 0, "offset": n,
                                  "timestamp": int(at.timestamp() * 1000), "key": c.item.id,
                                  "value": encode(c).decode()}) + "\n")  # fmt: skip
    return path


def test_a_rule_naming_an_unknown_tier_or_no_outlets_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        rules(tmp_path, "    min_outlets: 0\n    trusted_tiers: [wire, blog]\n")
    text = str(err.value)
    assert "rules.yaml:8: rules[0].min_outlets" in text and "rules.yaml:9: rules[0].trusted_tiers[1]" in text, text


async def test_a_restarted_deliver_stage_threads_an_update_under_the_alert_it_sent_before(
    settings: Settings, tmp_path: Path
) -> None:
    from monitor.stream.clients import make_producer
    from tests.support.alerts import alerting, fast
    from tests.support.kafka import group_caught_up
    from tests.support.waiting import wait_for, wait_until

    s = fast(settings)
    async with SlackApi() as api:
        (tmp_path / "token").write_text("xoxb-test-token\n")
        text = (
            f"version: 1\nsinks:\n  chat: {{type: slack_api, channel: '#alerts', token_file: {tmp_path / 'token'},"
            f" api_base: '{api.base}'}}\nrules:\n  - id: incidents\n    labels: [cross_border_incident]\n"
            "    sinks: [chat]\n"
        )
        ruled = parse_rules(text, tmp_path / "rules.yaml")
        alerter = StoryAlerter(ruled, store(), StoryBook(timedelta(hours=72)), interval_s=0)
        (first,) = alerter.on_item(report(1), T0, allow)
        (update,) = alerter.on_item(report(2), T0 + timedelta(seconds=1), allow)
        producer = make_producer(s.kafka)
        await producer.start()

        async def delivered() -> bool:
            return await group_caught_up(s.kafka.bootstrap_servers, s.alerts.delivery_group_id, s.topics.alerts)

        try:
            for n, a in enumerate((first, update), 1):
                async with alerting(s, ruled, matcher=False):
                    await producer.send_and_wait(s.topics.alerts, encode(a), key=a.event_id.encode())
                    assert await wait_for(lambda: len(api.calls) >= n, 20)  # noqa: B023 - awaited in this pass
                    assert await wait_until(delivered, 20)
        finally:
            await producer.stop()
    (m1, b1, _), (m2, b2, _) = api.calls
    assert m1 == m2 == "chat.postMessage" and "thread_ts" not in b1
    # The alert's channel and timestamp came back from news.deliveries after the restart.
    assert b2["channel"] == "C1" and b2["thread_ts"] == "1700000000.000001"
