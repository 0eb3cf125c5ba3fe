"""Alerting end to end on the real broker with real local HTTP receivers: news.classified -> alert -> deliver."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumers.alert.rules import load_rules, parse_rules
from consumers.alert.stage import event_id
from consumers.deliver import stage as delivery
from consumers.deliver.dlq import replay
from consumers.deliver.sinks import Outcome, ResolvedSink, Sink
from consumers.replay.shadow_compare import compare_shadow
from consumers.replay.shadow_html import render_shadow
from consumers.shadow.stage import run_shadow
from monitor.messages import Alert, DeadLetter, ShadowAlert, decode, encode
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from tests.support.alerts import (
    SECRET,
    alerting,
    alerting_caught_up,
    classified,
    dead_letters,
    deliveries,
    fast,
    produce,
    rendered_logs,
    webhook_rules,
)
from tests.support.kafka import group_caught_up, read_topic
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(secrets={"k1": "old-secret", "k2": SECRET})
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


def ids(n: int, start: int = 0) -> set[str]:
    return {event_id("incidents", f"item-{i}") for i in range(start, start + n)}


async def alert_on(s: Settings, receiver: Receiver, tmp_path: Path, n: int, timeout_s: float = 15, **rule: str) -> None:
    """Run the alert and deliver stages on a webhook rule (options as `webhook_rules` takes them) until the
    receiver accepted the alerts of `n` classified items."""
    rules = webhook_rules(tmp_path, {"hook": receiver.url}, **rule)
    async with alerting(s, rules):
        await produce(s, [classified(i) for i in range(n)])
        assert await wait_for(lambda: set(receiver.accepted) >= ids(n), timeout_s=timeout_s)


async def test_healthy_path_delivers_every_alert_once_signed(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    items = [classified(i) for i in range(40)]
    quiet = [classified(f"q{i}", incident=0.2) for i in range(10)]  # below the rule's 0.6
    backlog = [classified(f"b{i}", backfill=True) for i in range(5)]  # a new feed's old stories
    async with alerting(s, rules):
        await produce(s, items + quiet + backlog)
        assert await wait_for(lambda: set(receiver.accepted) >= ids(40))
        # The same stories again (an update, a re-poll, a replay of the live topic) alert no more.
        await produce(s, [classified(i, update=True) for i in range(10)] + items[10:20])
        # Both stages have read and committed everything, the repeats included, before the count is checked.
        assert await wait_until(lambda: alerting_caught_up(s))
    assert set(receiver.accepted) == ids(40)
    assert max(receiver.accepted.values()) == 1, "an event id arrived twice"
    assert not receiver.rejected, receiver.rejected
    first = receiver.requests[0].headers
    assert first["Newsmon-Key-Id"] == "k2" and first["Idempotency-Key"] == first["Newsmon-Event-Id"]
    recorded = await deliveries(s, expect=40)
    assert len(recorded) == 40 and {d.status for d in recorded} == {"delivered"}
    assert all(d.sink == "hook" and d.attempt == 1 and d.http_status == 200 for d in recorded)
    records = await read_topic(s.kafka.bootstrap_servers, s.topics.alerts)
    assert len(records) == 40
    assert all(r.key is not None and r.key.decode() == decode(Alert, r.value).event_id for r in records)


async def test_suppression_survives_a_restart_of_both_stages(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    async with alerting(s, rules):
        await produce(s, [classified(i) for i in range(10)])
        assert await wait_for(lambda: set(receiver.accepted) >= ids(10))
    # New consumer groups re-read news.classified from the start, like a replay: only the new story alerts.
    s2 = fast(settings, matcher_group_id=s.alerts.matcher_group_id + "-replay")
    async with alerting(s2, rules):
        await produce(s2, [classified(i) for i in range(11)])
        assert await wait_for(lambda: set(receiver.accepted) >= ids(11))
        assert await wait_until(lambda: alerting_caught_up(s2))
    assert set(receiver.accepted) == ids(11) and max(receiver.accepted.values()) == 1


async def test_receiver_failing_the_first_attempts_gets_every_alert(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.fail_first = 2
    s = fast(settings)
    await alert_on(s, receiver, tmp_path, 15, timeout_s=30)
    assert max(receiver.accepted.values()) == 1
    recorded = await deliveries(s, expect=45)
    by_status: dict[str, int] = {}
    for d in recorded:
        by_status[d.status] = by_status.get(d.status, 0) + 1
    assert by_status == {"retry": 30, "delivered": 15}
    assert {d.attempt for d in recorded if d.status == "delivered"} == {3}
    assert {d.http_status for d in recorded if d.status == "retry"} == {500}


async def test_429_with_retry_after_is_honoured(settings: Settings, receiver: Receiver, tmp_path: Path) -> None:
    receiver.throttle_first, receiver.retry_after_s = 1, 1.0
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    async with alerting(s, rules):
        await produce(s, [classified(0)])
        assert await wait_for(lambda: set(receiver.accepted) == ids(1), timeout_s=15)
    throttled = [r for r in receiver.requests if r.status == 429]
    ok = [r for r in receiver.requests if r.status == 200]
    assert len(throttled) == 1 and len(ok) == 1
    # Backoff alone would retry after 0.05 s; the receiver asked for a full second.
    assert ok[0].at - throttled[0].at >= 0.95


async def test_timeouts_are_retried_then_dead_lettered_and_replayed(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.delay_s = 1.0
    s = fast(settings, max_attempts=3)
    rules = webhook_rules(tmp_path, {"hook": receiver.url}, sink_options="    timeout_s: 0.3\n")
    async with alerting(s, rules):
        await produce(s, [classified(i) for i in range(3)])
        letters = await dead_letters(s, expect=3, timeout_s=30)
    assert {x.source_key for x in letters} == ids(3)
    assert all(x.error_class == "exhausted" and x.sink == "hook" and x.attempts == 3 for x in letters)
    assert all("timed out" in x.reason for x in letters)
    recorded = await deliveries(s, expect=9)
    assert sorted(d.status for d in recorded).count("dead_lettered") == 3
    assert not receiver.accepted

    # The receiver recovers; an operator replays the dead letters and every alert arrives.
    receiver.delay_s = 0.0
    assert await replay(s, sink="hook") == 3
    async with alerting(s, rules, matcher=False):
        assert await wait_for(lambda: set(receiver.accepted) == ids(3), timeout_s=20)
    assert await replay(s, sink="hook") == 0, "a second replay starts after the letters already replayed"


async def test_connection_refused_for_a_while_then_back_loses_nothing(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    outage_s = 4.0
    s = fast(settings, breaker_failures=3, breaker_cooldown_s=0.5, backoff_max_s=1.0)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    await receiver.go_down()
    async with alerting(s, rules):
        await produce(s, [classified(i) for i in range(20)])
        await asyncio.sleep(outage_s)
        assert not receiver.accepted
        await receiver.come_back()
        assert await wait_for(lambda: set(receiver.accepted) >= ids(20), timeout_s=20)
    assert max(receiver.accepted.values()) == 1
    failed = [d for d in await deliveries(s) if d.status == "retry"]
    assert failed and all(d.http_status == 0 and "Connect" in d.error for d in failed)
    # The circuit breaker holds the retries back: about one probe per cooldown, not every alert on its backoff.
    assert len(failed) < 45, len(failed)


async def test_a_dead_sink_does_not_slow_a_healthy_one(settings: Settings, receiver: Receiver, tmp_path: Path) -> None:
    dead = Receiver(delay_s=30.0)  # accepts connections, never answers in time
    await dead.start()
    try:
        s = fast(settings)
        rules = webhook_rules(tmp_path, {"hook": receiver.url, "dead": dead.url}, sink_options="    timeout_s: 3\n")
        async with alerting(s, rules):
            # Once both stages run and the dead sink has calls hanging, a burst goes out to the healthy one.
            await produce(s, [classified(1000)])
            assert await wait_for(lambda: receiver.accepted and dead.tries, timeout_s=20)
            started = time.monotonic()
            await produce(s, [classified(i) for i in range(30)])
            assert await wait_for(lambda: set(receiver.accepted) >= ids(30), timeout_s=10)
            took = time.monotonic() - started
    finally:
        await dead.stop()
    assert took < 2.0, f"the healthy sink needed {took:.1f}s while the other timed out"
    assert not dead.accepted


async def test_burst_over_the_rate_limit_is_folded_into_one_digest(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": receiver.url}, sink_options="    rate_per_s: 1\n    burst: 2\n")
    async with alerting(s, rules):
        await produce(s, [classified(i) for i in range(25)])
        assert await wait_for(lambda: set(receiver.accepted) >= ids(25), timeout_s=15)
        await asyncio.sleep(0.5)
    assert max(receiver.accepted.values()) == 1
    # Two within the burst, then everything that waited goes out as one digest a second later.
    assert len(receiver.requests) <= 4, [len(receiver.event_ids(r.body)) for r in receiver.requests]
    sizes = sorted(len(receiver.event_ids(r.body)) for r in receiver.requests)
    assert sizes[-1] >= 20
    # Paced by the bucket (1 per second, bursts of 2): no three messages within one second.
    times = sorted(r.at for r in receiver.requests)
    assert len(times) >= 3 and all(c - a >= 0.9 for a, c in zip(times, times[2:], strict=False)), times


async def test_digest_mode_rule_sends_one_message_per_window(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    await alert_on(fast(settings), receiver, tmp_path, 12, rule_options="    digest_minutes: 0.05\n")
    # Windows are aligned to the clock (3 s here): each message holds every match of one window.
    windows = []
    for r in receiver.requests:
        starts = {int(datetime.fromisoformat(a["matched_at"]).timestamp() // 3) for a in json.loads(r.body)["alerts"]}
        assert len(starts) == 1, "a message mixes two windows"
        windows.append(starts.pop())
    assert len(windows) == len(set(windows)) <= 2, "more than one message for a window"
    digests = [r for r in receiver.requests if len(receiver.event_ids(r.body)) > 1]
    assert digests and all(r.headers["Newsmon-Event-Id"].startswith("dg-") for r in digests)


async def test_chat_and_file_sinks_deliver_their_formats_and_unset_sinks_fall_back(
    settings: Settings, tmp_path: Path
) -> None:
    chat = Receiver()
    await chat.start()
    out = tmp_path / "alerts.jsonl"
    base = f"http://127.0.0.1:{chat.port}"
    text = f"""
version: 1
fallback_sink: file
sinks:
  file: {{type: file, path: {out}}}
  slack: {{type: slack, url: {base}/slack/T000/B000/XXXX}}
  discord: {{type: discord, url: {base}/discord/123/abc}}
  teams: {{type: teams, url: {base}/teams/webhookb2/xyz}}
  unset: {{type: slack, url_env: NEWSMON_TEST_UNSET_WEBHOOK_URL_42}}
rules:
  - id: chat
    labels: {{cross_border_incident: 0.6}}
    sinks: [slack, discord, teams]
  - id: nowhere
    labels: {{cross_border_incident: 0.6}}
    sinks: [unset]
"""
    rules = parse_rules(text, tmp_path / "rules.yaml")
    try:
        async with alerting(fast(settings), rules):
            await produce(settings, [classified(1, title="Drone crosses <border> & crashes")])
            assert await wait_for(lambda: len(chat.requests) >= 3 and out.exists(), timeout_s=15)
            await asyncio.sleep(0.5)
    finally:
        await chat.stop()
    bodies = {r.headers.get("Content-Type", "").split(";")[0]: r for r in chat.requests}
    assert set(bodies) == {"application/json"} and len(chat.requests) == 3
    docs = [json.loads(r.body) for r in chat.requests]
    slack = next(d for d in docs if "blocks" in d)
    assert "Drone crosses &lt;border&gt; &amp; crashes" in slack["blocks"][0]["text"]["text"]
    discord = next(d for d in docs if "embeds" in d)
    assert discord["embeds"][0]["title"] == "Drone crosses <border> & crashes"
    teams = next(d for d in docs if "attachments" in d)
    assert teams["attachments"][0]["content"]["type"] == "AdaptiveCard"
    # The rule whose only sink has no URL configured still reaches someone: the fallback file sink.
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["alerts"][0]["rule"]["id"] == "nowhere"
    assert lines[0]["version"] == 2 and lines[0]["alerts"][0]["story"]["id"] == "item-1"


async def test_dlq_list_and_replay_commands(settings: Settings, tmp_path: Path) -> None:
    s = fast(settings)
    digest = Alert(
        event_id="e-digest",
        rule_id="elections",
        sinks=["slack", "hook"],
        item=classified(7),
        mode="digest",
        digest_s=900,
    )
    letters = [
        DeadLetter(
            source_topic=s.topics.alerts,
            source_key="e-digest",
            reason="HTTP 404: no_service",
            error_class="permanent",
            payload=encode(digest).decode(),
            attempts=1,
            sink="slack",
        ),
        DeadLetter(
            source_topic=s.topics.alerts,
            source_key="e-other",
            reason="gave up after 10 attempts",
            error_class="exhausted",
            payload=encode(digest.model_copy(update={"event_id": "e-other"})).decode(),
            attempts=10,
            sink="hook",
        ),
        DeadLetter(
            source_topic=s.topics.raw,
            source_key="raw-1",
            reason="invalid RawItem",
            error_class="bad_input",
            payload="{broken",
            attempts=1,
        ),
    ]
    producer = make_producer(s.kafka)
    await producer.start()
    try:
        for x in letters:
            await producer.send_and_wait(s.topics.dead_letter, encode(x), key=x.source_key.encode())
    finally:
        await producer.stop()
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(yaml.safe_dump({"topics": s.topics.model_dump(), "alerts": s.alerts.model_dump(mode="json")}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env["NEWSMON_KAFKA_BOOTSTRAP"] = s.kafka.bootstrap_servers

    def newsmon(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor", "--settings", str(cfg), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    listed = await asyncio.to_thread(newsmon, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "permanent" in listed.stdout and "sink=slack" in listed.stdout and "HTTP 404: no_service" in listed.stdout
    assert "alert e-digest (elections: Border incident number 7)" in listed.stdout
    assert "3 dead letters" in listed.stderr
    replayed = await asyncio.to_thread(newsmon, "dlq", "replay", "--sink", "slack")
    assert replayed.returncode == 0 and "replayed 1 alerts for sink slack" in replayed.stdout, replayed.stderr
    again = await asyncio.to_thread(newsmon, "dlq", "replay", "--sink", "slack")
    assert "replayed 0 alerts" in again.stdout, again.stderr
    [rec] = await read_topic(s.kafka.bootstrap_servers, s.topics.alerts, expect=1)
    back = decode(Alert, rec.value)
    # Straight to the sink that failed, at once, under the same event id.
    assert back.event_id == "e-digest" and back.sinks == ["slack"] and back.mode == "immediate"


async def test_rule_rate_limit_sends_the_overflow_as_a_digest(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    limit = "    rate_limit: {max: 3, per_minutes: 60, overflow_digest_minutes: 0.04}\n"
    await alert_on(fast(settings), receiver, tmp_path, 10, rule_options=limit)
    sizes = sorted(len(receiver.event_ids(r.body)) for r in receiver.requests)
    assert sizes == [1, 1, 1, 7] and max(receiver.accepted.values()) == 1
    digest = json.loads(next(r.body for r in receiver.requests if len(receiver.event_ids(r.body)) == 7))
    assert digest["type"] == "digest" and "rule rate limit reached" in digest["alerts"][0]["reasons"][-1]


def slack_alerts(chat: Receiver) -> int:
    """How many alerts the Slack messages received so far carry (a digest says how many in its text)."""
    n = 0
    for r in chat.requests:
        head = json.loads(r.body)["text"].split(" alerts: ", 1)
        n += int(head[0]) if len(head) == 2 and head[0].isdigit() else 1
    return n


async def test_a_burst_through_the_shipped_rules_arrives_within_seconds(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook, chat = Receiver(secrets={"k1": SECRET}), Receiver()
    await hook.start()
    await chat.start()
    monkeypatch.setenv("NEWSMON_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("NEWSMON_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("NEWSMON_SLACK_WEBHOOK_URL", chat.url)
    rules = load_rules(REPO / "config" / "rules.yaml")
    n = 185

    def story(i: int | str) -> Any:
        # Labelled by the model at a score near its own threshold, far below any hand-set floor.
        return classified(i, incident=0.3, election=0.05, labels=("cross_border_incident",))

    wanted = {event_id("cross-border-incident", f"item-{i}") for i in range(n)}
    try:
        async with alerting(fast(settings), rules):
            await produce(settings, [story("warm-up")])
            assert await wait_for(lambda: hook.accepted and chat.requests, timeout_s=30)
            started = time.monotonic()
            await produce(settings, [story(i) for i in range(n)])
            assert await wait_for(lambda: set(hook.accepted) >= wanted, timeout_s=60), len(hook.accepted)
            hook_s = time.monotonic() - started
            assert await wait_for(lambda: slack_alerts(chat) >= n + 1, timeout_s=60), slack_alerts(chat)
            chat_s = time.monotonic() - started
    finally:
        await hook.stop()
        await chat.stop()
    assert hook_s < 5.0, f"the webhook needed {hook_s:.1f}s for {n} alerts"
    # Slack takes about one message a second: the burst is folded into a handful of messages, not minutes late.
    assert chat_s < 10.0 and len(chat.requests) <= 10, (chat_s, len(chat.requests))
    assert set(hook.accepted) == wanted | {event_id("cross-border-incident", "item-warm-up")}


SECRET_PARTS = ("hook-user", "pa55-w0rd-zq", "secret-token-abc123")


def with_userinfo(url: str) -> str:
    return url.replace("http://", "http://hook-user:pa55-w0rd-zq@", 1)


def leaks(text: str) -> list[str]:
    return [part for part in SECRET_PARTS if part in text]


async def test_the_webhook_urls_secret_parts_never_reach_logs_or_records(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.fail_first, receiver.echo_path = 1, True
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": with_userinfo(receiver.url)})
    with rendered_logs() as logs:
        async with alerting(s, rules):
            await produce(s, [classified(i) for i in range(3)])
            assert await wait_for(lambda: set(receiver.accepted) >= ids(3), timeout_s=20)
    recorded = await deliveries(s, expect=6)
    retries = [d for d in recorded if d.status == "retry"]
    # The receiver quoted the secret path in its refusal: the record keeps the refusal, not the path.
    assert len(retries) == 3 and all("no hook at ***" in d.error for d in retries), retries
    assert "delivery.started" in logs.getvalue() and "delivery.retry" in logs.getvalue()
    assert not leaks(logs.getvalue() + "".join(d.error for d in recorded))


class CrashingSink(Sink):
    """A sink with a bug that quotes its URL in the exception."""

    def __init__(self, config: ResolvedSink, fatal: bool = False) -> None:
        super().__init__(config)
        self._fatal = fatal

    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        if self._fatal:
            raise SinkBug(f"state lost while posting to {self.config.url}")
        raise RuntimeError(f"bug while posting to {self.config.url}")


class SinkBug(BaseException):
    """Escapes the sink's own error handling, as a bug in the delivery code itself would."""


async def test_a_crashing_sink_is_logged_and_dead_lettered_without_its_url(
    settings: Settings, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "make_sink", lambda config, session: CrashingSink(config))
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": with_userinfo(receiver.url)})
    with rendered_logs() as logs:
        async with alerting(s, rules):
            await produce(s, [classified(1)])
            [letter] = await dead_letters(s, expect=1)
    assert "sink.crashed" in logs.getvalue() and "bug while posting to ***" in letter.reason
    assert not leaks(logs.getvalue() + letter.reason)


async def test_a_delivery_bug_stops_the_stage_without_logging_the_url(
    settings: Settings, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "make_sink", lambda config, session: CrashingSink(config, fatal=True))
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": with_userinfo(receiver.url)})
    with rendered_logs() as logs, pytest.raises(BaseException) as raised:
        async with alerting(s, rules):
            await produce(s, [classified(1)])
            assert await wait_for(lambda: "delivery.unit_crashed" in logs.getvalue(), timeout_s=20)
    # The stage stops with the error (the service logs it as `stage.failed`): neither may carry the URL.
    assert "state lost while posting to ***" in str(raised.value)
    assert not leaks(logs.getvalue() + str(raised.value) + repr(raised.value))


async def test_an_alert_undeliverable_for_max_age_is_dead_lettered(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.fail_first = 10**6  # never answers 2xx
    s = fast(settings, max_age_s=1.5, max_attempts=1000, breaker_failures=1000)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    async with alerting(s, rules):
        started = time.monotonic()
        await produce(s, [classified(i) for i in range(3)])
        letters = await dead_letters(s, expect=3, timeout_s=30)
        took = time.monotonic() - started
    assert {x.source_key for x in letters} == ids(3)
    # Given up for age, long before the attempts ran out.
    assert all(x.error_class == "exhausted" and x.reason.startswith("gave up after") for x in letters)
    assert all(1 < x.attempts < 100 for x in letters), [x.attempts for x in letters]
    assert 1.5 <= took < 15, took
    assert not receiver.accepted


async def test_a_story_alerts_again_once_the_suppression_window_has_passed(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    window_s = 3.0
    s = fast(settings, suppress_window_h=window_s / 3600)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    [eid] = ids(1)
    async with alerting(s, rules):
        await produce(s, [classified(0)])
        assert await wait_for(lambda: receiver.accepted[eid] == 1)
        first = time.monotonic()
        # Within the window a repeat is suppressed: the next story is the positive signal that it was handled.
        await produce(s, [classified(0, update=True), classified(1)])
        assert await wait_for(lambda: set(receiver.accepted) == ids(2))
        assert receiver.accepted[eid] == 1
        await asyncio.sleep(max(0.0, first + window_s + 0.5 - time.monotonic()))
        await produce(s, [classified(0, update=True)])
        assert await wait_for(lambda: receiver.accepted[eid] == 2), dict(receiver.accepted)
    assert receiver.accepted[eid] == 2 and max(receiver.accepted.values()) == 2


async def test_a_shadow_rule_is_recorded_beside_live_and_never_delivered(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    s = fast(settings)
    shadow_rule = (
        "  - id: strict-incidents\n    shadow: true\n    labels: {cross_border_incident: 0.8, election: 0.8}\n"
        "    sinks: [hook]\n"
    )
    rules = webhook_rules(tmp_path, {"hook": receiver.url}, extra_rules=shadow_rule)
    since = datetime.now(UTC) - timedelta(minutes=1)
    both = [classified(i, incident=0.9) for i in range(10)]
    live_only = [classified(i, incident=0.7) for i in range(10, 15)]
    shadow_only = [classified(i, incident=0.2, election=0.9) for i in range(15, 19)]
    stop = asyncio.Event()
    shadow = asyncio.create_task(run_shadow(s, stop, rules))
    try:
        async with alerting(s, rules):
            await produce(s, both + live_only + shadow_only)
            await produce(s, both[:3])  # repeats: neither side sends them again
            assert await wait_for(lambda: set(receiver.accepted) >= ids(15))
            assert await wait_until(lambda: alerting_caught_up(s))
            assert await wait_until(
                lambda: group_caught_up(s.kafka.bootstrap_servers, s.alerts.shadow_group_id, s.topics.classified)
            )
    finally:
        stop.set()
        await shadow
    assert set(receiver.accepted) == ids(15) and max(receiver.accepted.values()) == 1
    live = [decode(Alert, r.value) for r in await read_topic(s.kafka.bootstrap_servers, s.topics.alerts)]
    assert sorted(a.item.item.id for a in live) == sorted(c.item.id for c in both + live_only)
    assert {a.rule_id for a in live} == {"incidents"}
    records = await read_topic(s.kafka.bootstrap_servers, s.topics.shadow)
    recorded = [decode(ShadowAlert, r.value) for r in records]
    assert sorted((a.rule_id, a.item.item.id, a.kind) for a in recorded) == sorted(
        ("strict-incidents", c.item.id, "rule") for c in both + shadow_only
    )
    assert [r.key for r in records] == [event_id("strict-incidents", a.item.item.id).encode() for a in recorded]

    report = await compare_shadow(s, since, None, examples=3)
    assert (report["live"]["alerts"], report["live"]["stories"]) == (15, 15)
    assert (report["shadow"]["alerts"], report["shadow"]["by_kind"]) == (14, {"rule": 14})
    assert report["agreement"] == {"both": 10, "live_only": 5, "shadow_only": 4, "rate": round(10 / 19, 4)}
    only = report["examples"]["shadow_only"]
    assert len(only) == 3 and {x["item_id"] for x in only} <= {c.item.id for c in shadow_only}
    assert all(x["shadow_rules"] == ["strict-incidents"] and x["live_rules"] == [] for x in only)
    page = render_shadow(report)
    assert "only shadow" in page and only[0]["title"] in page
