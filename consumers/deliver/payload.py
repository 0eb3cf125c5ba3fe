"""The versioned JSON payload of an alert message (docs/webhooks.md), shared by the webhook and file sinks."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from monitor.messages import Alert

PAYLOAD_VERSION = 1


def digest_window(a: Alert) -> float:
    """Start (Unix seconds) of the digest window an alert belongs to: fixed by its match time, so a restart that
    reads the alert again puts it in the same window with the same companions."""
    if a.digest_s <= 0:
        return 0.0
    return math.floor(a.matched_at.timestamp() / a.digest_s) * a.digest_s


def message_id(alerts: list[Alert]) -> str:
    """The event id of one message: the alert's own, or for a digest one derived from its windows and members."""
    if len(alerts) == 1:
        return alerts[0].event_id
    windows = sorted({f"{a.rule_id}@{digest_window(a):.0f}+{a.digest_s:g}" for a in alerts if a.mode == "digest"})
    joined = "\n".join([*windows, *sorted(a.event_id for a in alerts)])
    return "dg-" + hashlib.sha256(joined.encode()).hexdigest()[:32]


def alert_dict(a: Alert) -> dict[str, Any]:
    d = a.model_dump(mode="json")
    c, it = d["item"], d["item"]["item"]
    return {
        "event_id": a.event_id,
        "rule": {"id": a.rule_id, "name": a.rule_name or a.rule_id},
        "matched_at": d["matched_at"],
        "reasons": d["reasons"],
        "story": {
            k: it[k]
            for k in ("id", "title", "url", "source", "feed_id", "published", "lang", "summary", "update", "backfill")
        },
        "labels": [{"name": name, "score": round(c["scores"].get(name, 0.0), 4)} for name in c["labels"]],
        "scores": {k: round(v, 4) for k, v in c["scores"].items()},
        "places": c["places"],
        "explanation": c["explanation"],
        "model": c["model"],
    }


def envelope(alerts: list[Alert]) -> dict[str, Any]:
    """One message: `type` alert (one story) or digest (several), always with the list of alerts."""
    return {
        "version": PAYLOAD_VERSION,
        "type": "alert" if len(alerts) == 1 else "digest",
        "event_id": message_id(alerts),
        "alerts": [alert_dict(a) for a in alerts],
    }


def encode_envelope(alerts: list[Alert]) -> bytes:
    return json.dumps(envelope(alerts), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
