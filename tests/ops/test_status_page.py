"""The status page of a process that only delivers: the alerts it read from `news.alerts`, each once, escaped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumers.alert.stage import event_id
from consumers.deliver.stage import resolve_sinks, run_delivery
from monitor.messages import Alert, encode
from monitor.ops import page
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from tests.support.alerts import classified, fast, webhook_rules
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for

HOSTILE = 'Shells hit <b onmouseover="alert(1)">the</b> border </td></tr></table><script>alert(2)</script>'


def alert(i: int, title: str) -> Alert:
    c = classified(i, title)
    return Alert(event_id=event_id("incidents", c.item.id), rule_id="incidents", sinks=["hook"], item=c,
                 reasons=["cross_border_incident 0.90 >= 0.60"])  # fmt: skip


async def test_a_deliver_only_process_shows_the_alerts_it_read_each_once_and_escaped(
    settings: Settings, tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    s = fast(settings)
    rules = webhook_rules(tmp_path, {"hook": receiver.url})
    alerts = [alert(0, HOSTILE), alert(1, "Drone crosses the frontier at night")]
    producer = make_producer(s.kafka)
    await producer.start()
    try:
        for a in [*alerts, alerts[0]]:  # the first one twice, as a repeat in the topic
            await producer.send_and_wait(s.topics.alerts, encode(a), key=a.event_id.encode())
    finally:
        await producer.stop()
    board = StatusBoard(Readiness())
    stop = asyncio.Event()
    task = asyncio.create_task(run_delivery(s, stop, rules, resolve_sinks(rules), board.readiness, board))
    try:
        assert await wait_for(lambda: len(receiver.accepted) == 2 or task.done(), 60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)

    shown = board.snapshot().alerts
    assert sorted(a.event_id for a in shown) == sorted(a.event_id for a in alerts)
    hostile = next(a for a in shown if a.title == HOSTILE)
    assert hostile.labels == ["cross_border_incident"] and hostile.scores["cross_border_incident"] == 0.9
    assert hostile.explanation["cross_border_incident"][0] == ("border", 1.3)
    html = page.render(board.snapshot())
    assert "<script" not in html and "onmouseover" not in html.replace("onmouseover=&quot;", "")
    assert "Shells hit &lt;b onmouseover=&quot;alert(1)&quot;&gt;the&lt;/b&gt; border" in html
    assert html.count("<tr>") == html.count("</tr>") and "border +1.30" in html
