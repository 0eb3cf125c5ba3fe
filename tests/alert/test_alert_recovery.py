"""Alerts survive a crash of the alerting process and a restart of the broker: nothing is missing afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from consumers.alert.stage import event_id
from consumers.alert.suppression import SuppressionStore
from monitor.broker.local import LocalBroker
from monitor.messages import AlertState, encode, encode_key
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.stream.produce import Outgoing, produce_each
from tests.support.alerts import SECRET, alerting, classified, fast, produce, webhook_rules
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    # Slow enough that deliveries are in flight when the process dies or the broker stops.
    r = Receiver(secrets={"k2": SECRET}, delay_s=0.02)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


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


async def test_sigkill_mid_delivery_then_restart_misses_nothing(
    settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    s = fast(settings)
    webhook_rules(tmp_path, {"hook": receiver.url}, sink_options="    concurrency: 4\n")
    n = 300
    proc = await start_alerting(s, tmp_path)
    try:
        await produce(s, [classified(i) for i in range(200)])
        assert await wait_for(lambda: len(receiver.accepted) >= 40 or proc.returncode is not None, timeout_s=40)
        assert proc.returncode is None, (tmp_path / "alerting.log").read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        at_kill = len(receiver.accepted)
        assert at_kill < 200, "the kill came too late to interrupt delivery"
        # Stories keep arriving while the alerting process is down.
        await produce(s, [classified(i) for i in range(200, n)])
        proc = await start_alerting(s, tmp_path)
        assert await wait_for(lambda: set(receiver.accepted) >= ids(n), timeout_s=60), (
            f"{len(ids(n) - set(receiver.accepted))} alerts missing after the restart"
        )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(proc.wait(), 60)
    assert set(receiver.accepted) == ids(n)
    assert not receiver.rejected
    assert rc == 0, "SIGTERM must stop the alerting process cleanly"
    # At least once: only what was in flight at the kill may arrive twice; receivers dedupe on the event id.
    twice = sum(1 for c in receiver.accepted.values() if c > 1)
    assert twice <= 16, f"{twice} alerts were delivered twice"


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


async def test_broker_stop_and_start_mid_stream_misses_nothing(
    settings: Settings, receiver: Receiver, tmp_path: Path, broker: LocalBroker | None
) -> None:
    if broker is None:
        pytest.skip("the suite runs against an external cluster it cannot restart")
    # About 20 alerts a second: a broker that holds many test topics takes seconds to stop, and must stop mid-stream.
    receiver.delay_s = 0.1
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": receiver.url}, sink_options="    concurrency: 2\n")
    async with alerting(s, rules):
        await produce(s, [classified(i) for i in range(150)])
        assert await wait_for(lambda: len(receiver.accepted) >= 20, timeout_s=20)
        try:
            await asyncio.to_thread(broker.stop)
            assert len(receiver.accepted) < 150, "the broker stopped too late to be mid-stream"
            await asyncio.sleep(2.0)
        finally:
            # Other tests share this broker: it must be back whatever happened here.
            if not broker.status().running:
                await asyncio.to_thread(broker.start)
            await broker.wait_ready()
        await produce(s, [classified(i) for i in range(150, 200)])
        assert await wait_for(lambda: set(receiver.accepted) >= ids(200), timeout_s=90), (
            f"{len(ids(200) - set(receiver.accepted))} alerts missing after the broker restart"
        )
    assert set(receiver.accepted) == ids(200)
    twice = sum(1 for c in receiver.accepted.values() if c > 1)
    assert twice <= 4, f"{twice} alerts were delivered twice"


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
