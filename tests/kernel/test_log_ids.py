"""JSON logs name what they are about: a real alert and delivery process puts `item_id` and `event_id` on every
line about one item or alert, and no id on the lines about none."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from consumers.alert.stage import event_id
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from tests.support.alerts import classified, fast, produce, webhook_rules
from tests.support.processes import log_events, start_newsmon, write_settings
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for

ALERTING = [classified(i, f"Shells hit border village {i}") for i in range(3)]
QUIET = [classified(9, "Council approves a cycle lane", incident=0.1)]


def json_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]


async def produce_undecodable(settings: Settings, key: str) -> None:
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topics.classified, b"{not json", key=key.encode())
    finally:
        await producer.stop()


async def test_lines_about_one_item_or_alert_carry_its_ids(settings: Settings, tmp_path: Path) -> None:
    receiver = Receiver(fail_first=1)  # every alert is retried once: a warning line per alert from its send task
    await receiver.start()
    s = fast(settings)
    webhook_rules(tmp_path, {"hook": receiver.url})
    alerts = s.alerts.model_dump(mode="json") | {"rules_file": str(tmp_path / "rules.yaml")}
    config = write_settings(s, tmp_path, alerts=alerts)
    log = tmp_path / "alerting.log"
    proc = await start_newsmon(s, config, log, "run", "--stage", "alert", "--stage", "deliver")
    try:
        await produce(s, [*ALERTING, *QUIET])
        await produce_undecodable(s, "item-broken")
        ids = {event_id("incidents", c.item.id): c.item.id for c in ALERTING}
        assert await wait_for(lambda: set(receiver.accepted) == set(ids) or proc.returncode is not None, 90), (
            log.read_text()[-3000:]
        )
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, log.read_text()[-3000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await receiver.stop()

    matched = log_events(log, "alert.matched")
    assert {(x["event_id"], x["item_id"]) for x in matched} == set(ids.items())
    retries = log_events(log, "delivery.retry")
    assert {(x["event_id"], x["item_id"]) for x in retries} == set(ids.items())
    bad = log_events(log, "alert.bad_input")
    assert [x["item_id"] for x in bad] == ["item-broken"] and "event_id" not in bad[0]
    # Lines about no one item carry no id: ids never leak from a record handled before them.
    lines = json_lines(log)
    about_none = [x for x in lines if x["event"] in ("alert.started", "delivery.started", "alert.stopped",
                                                      "delivery.stopped", "service.stopped")]  # fmt: skip
    assert len(about_none) == 5 and not [x for x in about_none if "item_id" in x or "event_id" in x]
    assert not [x for x in lines if x.get("logger", "").startswith("aiokafka") and "item_id" in x]
