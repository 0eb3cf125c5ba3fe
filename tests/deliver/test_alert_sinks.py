"""Sink payloads stay within each service's limits; signatures verify; pacing and commit bookkeeping are exact."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from consumers.alert.stage import event_id
from consumers.deliver.limits import CircuitBreaker, TokenBucket
from consumers.deliver.payload import envelope, message_id
from consumers.deliver.sinks.config import ResolvedSink, WebhookSinkSpec
from consumers.deliver.sinks.discord import render_discord
from consumers.deliver.sinks.slack import render_slack
from consumers.deliver.sinks.teams import render_teams
from consumers.deliver.sinks.webhook import WebhookSink, signature, verify
from monitor.messages import Alert, ClassifiedItem, Contribution, Place
from monitor.stream.offsets import OffsetTracker
from tests.support.alerts import classified

REPO = Path(__file__).resolve().parents[2]
LONG_TITLE = "Drone <!channel> & missile strike near the border " * 60  # ~3000 characters
LONG_SUMMARY = "Officials said <b>shelling</b> & drones hit villages across the frontier. " * 400  # ~30 kB


def alert(i: int, title: str = LONG_TITLE, summary: str = LONG_SUMMARY, url: str = "") -> Alert:
    c = classified(i, title=title, summary=summary)
    item = c.item.model_copy(update={"url": url or f"https://news.example.org/{i}?a=1&b=<2>|x"})
    c = ClassifiedItem.model_validate(
        {
            **c.model_dump(),
            "item": item.model_dump(),
            "places": [Place(code="UA", name=f"Place {k} " * 20).model_dump() for k in range(40)],
            "explanation": {
                "cross_border_incident": [
                    Contribution(feature=f"term{k} " * 30, weight=1.0 + k).model_dump() for k in range(30)
                ]
            },
        }
    )
    return Alert(
        event_id=event_id("r", c.item.id),
        rule_id="r",
        rule_name="Rule " * 100,
        sinks=["s"],
        item=c,
        reasons=["cross_border_incident 0.90 >= 0.60"] * 200,
    )


def texts(obj: Any) -> list[str]:
    """Every `text` string in a Block Kit structure."""
    if isinstance(obj, dict):
        own = [obj["text"]] if isinstance(obj.get("text"), str) else []
        return own + [t for v in obj.values() for t in texts(v)]
    if isinstance(obj, list):
        return [t for v in obj for t in texts(v)]
    return []


def check_slack(payload: dict[str, Any]) -> None:
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    assert len(payload["text"]) <= 4000
    assert len(json.dumps(blocks, ensure_ascii=False)) <= 12000
    for b in blocks:
        if b["type"] == "section":
            assert "text" not in b or len(b["text"]["text"]) <= 3000
            assert len(b.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in b.get("fields", []))
        if b["type"] == "context":
            assert len(b["elements"]) <= 10
    # Story text never becomes a mention or markup: <, > and & arrive escaped.
    assert not any("<!channel>" in t or "<b>" in t for t in texts(blocks))


def test_slack_payload_for_very_long_title_and_summary_stays_within_limits() -> None:
    payload = render_slack([alert(1)])
    check_slack(payload)
    headline = payload["blocks"][0]["text"]["text"]
    assert headline.startswith("*<https://news.example.org/1?a=1&b=%3C2%3E%7Cx|Drone &lt;!channel&gt; &amp;")
    assert "…" in headline
    body = json.dumps(payload)
    assert "Place 0" in body and "term29" in body, "places and top terms are shown"


def test_slack_digest_of_many_long_alerts_stays_within_limits_and_counts_the_rest() -> None:
    alerts = [alert(i) for i in range(300)]
    payload = render_slack(alerts)
    check_slack(payload)
    shown = len(payload["blocks"]) - 2
    assert payload["blocks"][0]["text"]["text"].startswith("*300 alerts*")
    assert payload["blocks"][-1]["elements"][0]["text"] == f"…and {300 - shown} more alerts"
    plain = [
        Alert(event_id=f"e{i}", rule_id="r", sinks=["s"], item=classified(i, title=f"Story {i}")) for i in range(40)
    ]
    short = render_slack(plain)
    check_slack(short)
    assert len(short["blocks"]) == 41, "forty short stories fit in one message"


def test_discord_payload_stays_within_embed_limits() -> None:
    for alerts in ([alert(1)], [alert(i) for i in range(30)]):
        body = render_discord(alerts)
        assert body["allowed_mentions"] == {"parse": []}
        embeds = body["embeds"]
        assert 1 <= len(embeds) <= 10
        total = 0
        for e in embeds:
            assert len(e["title"]) <= 256 and len(e.get("description", "")) <= 4096
            assert len(e["fields"]) <= 25 and all(
                len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in e["fields"]
            )
            assert len(e["footer"]["text"]) <= 2048
            total += len(e["title"]) + len(e.get("description", "")) + len(e["footer"]["text"])
            total += sum(len(f["name"]) + len(f["value"]) for f in e["fields"])
        assert total <= 6000 and len(body.get("content", "")) <= 2000
    assert "30 alerts" in render_discord([alert(i) for i in range(30)])["content"]


def test_teams_payload_stays_under_28_kb() -> None:
    for alerts in ([alert(1)], [alert(i) for i in range(200)]):
        body = render_teams(alerts)
        assert len(json.dumps(body, ensure_ascii=False).encode()) <= 28 * 1024
        card = body["attachments"][0]["content"]
        assert card["type"] == "AdaptiveCard" and card["body"]
    assert "…and" in json.dumps(render_teams([alert(i) for i in range(200)]), ensure_ascii=False)


def test_webhook_envelope_is_versioned_with_stable_event_ids() -> None:
    a, b = alert(1, title="A"), alert(2, title="B")
    single = envelope([a])
    assert single["version"] == 2 and single["type"] == "alert" and single["event_id"] == a.event_id
    story = single["alerts"][0]["story"]
    assert story["title"] == "A" and story["id"] == "item-1"
    digest = envelope([a, b])
    assert digest["type"] == "digest" and [x["event_id"] for x in digest["alerts"]] == [a.event_id, b.event_id]
    assert message_id([a, b]) == message_id([b, a]) and message_id([a, b]).startswith("dg-")


def test_signature_verifies_and_rejects_tampering_replays_and_unknown_keys() -> None:
    body, now = b'{"version":1}', time.time()
    ts = int(now)
    headers = {"Newsmon-Key-Id": "k2", "Newsmon-Timestamp": str(ts), "Newsmon-Signature": signature("new", ts, body)}
    # During a rotation the receiver accepts both keys; each request names the key it was signed with.
    keys = {"k1": "old", "k2": "new"}
    assert verify(headers, body, keys, now=now) is None
    assert verify(headers, body + b" ", keys, now=now) == "signature mismatch"
    assert verify(headers, body, keys, now=now + 301) == "timestamp outside the tolerance window"
    assert verify(headers, body, {"k1": "old"}, now=now) == "unknown key id 'k2'"
    assert verify({**headers, "Newsmon-Signature": signature("old", ts, body)}, body, keys, now=now) is not None
    assert (
        signature("new", ts, body)
        == "v1=" + __import__("hmac").new(b"new", f"{ts}.".encode() + body, "sha256").hexdigest()
    )


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_paces_bursts_and_pauses_for_retry_after() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 2, clock)
    assert bucket.try_take() and bucket.try_take() and not bucket.try_take()
    assert bucket.wait_s() == pytest.approx(1.0)
    clock.t += 1.0
    assert bucket.try_take() and not bucket.try_take()
    bucket.pause_for(5)
    clock.t += 2.0
    assert not bucket.try_take() and bucket.wait_s() == pytest.approx(3.0)
    free = TokenBucket(0, 1, clock)
    assert all(free.try_take() for _ in range(1000))


def test_circuit_breaker_opens_then_lets_one_probe_through() -> None:
    clock = Clock()
    cb = CircuitBreaker(3, 10.0, clock)
    for _ in range(2):
        cb.failure()
    assert cb.try_acquire() == "pass"
    assert cb.failure() and cb.state == "open" and cb.try_acquire() == ""
    clock.t += 10
    assert cb.try_acquire() == "probe" and cb.try_acquire() == "", "one probe at a time"
    assert not cb.failure(), "a failed probe re-opens the circuit without a new warning"
    assert cb.state == "open" and cb.try_acquire() == ""
    clock.t += 10
    assert cb.try_acquire() == "probe"
    assert cb.success() and not cb.success()
    assert cb.state == "closed" and cb.try_acquire() == "pass"


def test_offsets_commit_only_up_to_the_first_unfinished_record() -> None:
    tp = TopicPartition("t", 0)
    tr = OffsetTracker()
    for off in range(5):
        tr.add(tp, off)
    tr.done(tp, 1)
    tr.done(tp, 2)
    assert tr.to_commit() == {} and tr.pending == 3
    tr.done(tp, 0)
    assert tr.to_commit() == {tp: 3}
    tr.committed({tp: 3})
    assert tr.to_commit() == {}
    tr.done(tp, 4)
    tr.done(tp, 3)
    assert tr.to_commit() == {tp: 5} and tr.pending == 0
    tr.forget([tp])
    tr.done(tp, 9)  # a record of a revoked partition finishing late is ignored
    assert tr.to_commit() == {}


def test_the_documented_verification_recipe_accepts_what_the_webhook_sink_sends() -> None:
    doc = (REPO / "docs" / "webhooks.md").read_text()
    recipe: dict[str, Any] = {}
    exec(doc.split("```python\n", 1)[1].split("```", 1)[0], recipe)
    recipe["SECRETS"]["k2"] = b"current secret"
    spec = WebhookSinkSpec(type="webhook", url="https://hooks.example.org/in/abc", key_id="k2", secret_env="S")
    sink = WebhookSink(ResolvedSink("hook", spec, spec.url, "current secret", 0, 1, 1), session=None)  # type: ignore[arg-type]
    body, headers = sink.render([alert(1, title="T", summary="S")], attempt=3)
    assert recipe["verify"](headers, body)
    assert not recipe["verify"](headers, body.replace(b'"T"', b'"X"'))
    assert headers["Newsmon-Attempt"] == "3" and json.loads(body)["alerts"][0]["story"]["title"] == "T"
    old_body, old_headers = sink.render([alert(1, title="T", summary="S")], attempt=1, now=time.time() - 600)
    assert not recipe["verify"](old_headers, old_body), "outside the tolerance window"
