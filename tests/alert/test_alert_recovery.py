"""Alert state across restarts: a digest in flight at a crash keeps its message id; suppression survives a restart.

Loss and duplication across crashes of every stage and of the broker are counted in tests/system."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from consumers.alert.stage import event_id
from consumers.alert.suppression import SuppressionStore
from monitor.messages import AlertState, encode, encode_key
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.stream.produce import Outgoing, produce_each
from tests.support.alerts import SECRET, classified, fast, produce, webhook_rules
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def ids(n: int) -> set[str]:
    return {event_id("incidents", f"item-{i}") for i in range(n)}


async def start_alerting(settings: Settings, tmp_path: Path) -> asyncio.subprocess.Process:
    config = tmp_path / "settings.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "topics": settings.topics.model_dump(),
                "alerts": {**settings.alerts.model_dump(mode="json"), "rules_file": str(tmp_path / "rules.yaml")},
                "log": {"format": "json", "level": "INFO"},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env["NEWSMON_KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap_servers
    log = (tmp_path / "alerting.log").open("ab")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "--settings",
        str(config),
        "run",
        "--stage",
        "alert",
        "--stage",
        "deliver",
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=log,
    )


def message_ids(receiver: Receiver) -> dict[str, set[str]]:
    """For every alert, the ids of the messages (Newsmon-Event-Id) it arrived in, answered or not."""
    out: dict[str, set[str]] = {}
    for r in receiver.requests:
        for eid in receiver.event_ids(r.body):
            out.setdefault(eid, set()).add(r.headers["Newsmon-Event-Id"])
    return out


async def test_a_digest_in_flight_at_a_sigkill_is_sent_again_under_the_same_id(
    settings: Settings, tmp_path: Path
) -> None:
    # The receiver takes a second to answer, so the digest is still in flight when the process dies.
    receiver = Receiver(secrets={"k2": SECRET}, delay_s=1.0)
    await receiver.start()
    s = fast(settings)
    webhook_rules(tmp_path, {"hook": receiver.url}, rule_options="    digest_minutes: 0.05\n")
    proc = await start_alerting(s, tmp_path)
    try:
        await produce(s, [classified(i) for i in range(10)])
        assert await wait_for(lambda: receiver.tries or proc.returncode is not None, timeout_s=40)
        assert proc.returncode is None, (tmp_path / "alerting.log").read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        before = {r.headers["Newsmon-Event-Id"] for r in receiver.requests} | set(receiver.tries)
        assert not receiver.accepted, "the kill came too late: the digest was answered"
        # More stories arrive while the process is down; they must not be regrouped with the pending digest.
        await produce(s, [classified(i) for i in range(10, 20)])
        proc = await start_alerting(s, tmp_path)
        assert await wait_for(lambda: set(receiver.accepted) >= ids(20), timeout_s=90), (
            f"{len(ids(20) - set(receiver.accepted))} alerts missing after the restart"
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        await receiver.stop()
    # A receiver deduplicating on the message id sees each alert under one id only, before and after the crash.
    regrouped = {eid: mids for eid, mids in message_ids(receiver).items() if len(mids) > 1}
    assert not regrouped, f"{len(regrouped)} alerts arrived under more than one message id"
    assert before & {r.headers["Newsmon-Event-Id"] for r in receiver.requests if r.status == 200}
    assert not receiver.rejected


async def test_a_story_that_alerted_again_stays_suppressed_after_a_restart(settings: Settings) -> None:
    # The state topic holds both alerts of a story for a rule: one a window ago, one just now (the re-alert).
    window = timedelta(minutes=10)
    now = datetime.now(UTC)
    eid = event_id("incidents", "item-0")
    states = [
        AlertState(event_id=eid, rule_id="incidents", item_id="item-0", first_matched_at=at)
        for at in (now - 2 * window, now - timedelta(seconds=5))
    ]
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        topic = settings.topics.alert_state
        await produce_each(producer, [Outgoing(topic, encode_key(st), encode(st)) for st in states])
        # A restarted alert stage reads the topic back: the re-alert's window is what suppresses repeats now.
        store = SuppressionStore(settings.kafka, settings.topics.alert_state, window.total_seconds(), producer)
        assert await store.start() == 1
        try:
            assert store.suppressed(eid, now)
        finally:
            await store.stop()
    finally:
        await producer.stop()
