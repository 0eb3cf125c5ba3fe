"""`newsmon replay --compare-shadow`: what the shadow side recorded beside what live alerted, story by story.

Both sides are read from their topics (`news.alerts`, `news.shadow`) over the same time range, without a group.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from consumers.replay.request import ReplayInputError
from consumers.replay.source import read_spans, replay_consumer
from consumers.replay.window import resolve_spans, to_ms
from monitor.messages import Alert, DecodeError, ShadowAlert, decode
from monitor.settings import Settings
from monitor.stream.clients import start_client
from monitor.stream.reader import TopicMissing, partitions

log = structlog.get_logger(__name__)


@dataclass
class Side:
    """One side's alerts in the range: counts, and per story the rules that fired and what the story was."""

    alerts: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    stories: dict[str, tuple[int, list[str], dict[str, str]]] = field(default_factory=dict)

    def add(self, at_ms: int, rule_id: str, kind: str, item: dict[str, str]) -> None:
        self.alerts += 1
        self.by_rule[rule_id] += 1
        self.by_kind[kind] += 1
        first, rules, _ = self.stories.get(item["item_id"], (at_ms, [], item))
        self.stories[item["item_id"]] = (min(first, at_ms), sorted({*rules, rule_id}), item)

    def as_dict(self, kinds: bool) -> dict[str, Any]:
        out = {"alerts": self.alerts, "stories": len(self.stories), "by_rule": dict(sorted(self.by_rule.items()))}
        return out | ({"by_kind": dict(sorted(self.by_kind.items()))} if kinds else {})


def _story(a: Alert | ShadowAlert) -> dict[str, str]:
    it = a.item.item
    return {"item_id": it.id, "title": it.title, "url": it.url, "source": it.source or it.feed_id}


async def _read(settings: Settings, topic: str, since: datetime, until: datetime | None, stop: asyncio.Event,
                take: Any) -> None:  # fmt: skip
    """Hand every record of `topic` stamped within [since, until) to `take`."""
    try:
        parts = await partitions(settings.kafka, topic)
    except TopicMissing as exc:
        raise ReplayInputError(str(exc)) from exc
    consumer = replay_consumer(settings.kafka, "compare-shadow")
    await start_client(consumer, settings.kafka)
    low, high = to_ms(since), to_ms(until) if until else None
    try:
        spans = await resolve_spans(consumer, topic, parts, since, until)
        async for batch in read_spans(consumer, topic, spans, stop):
            for r in batch:
                if low <= r.timestamp and (high is None or r.timestamp < high):
                    take(r)
    finally:
        await consumer.stop()


def _taker(side: Side, cls: type[Alert] | type[ShadowAlert]) -> Any:
    def take(r: Any) -> None:
        try:
            a = decode(cls, r.value)
        except DecodeError as exc:
            log.warning("compare_shadow.bad_record", topic=r.topic, offset=r.offset, error=str(exc))
            return
        side.add(r.timestamp, a.rule_id, a.kind if isinstance(a, ShadowAlert) else "live", _story(a))

    return take


def _examples(ids: set[str], live: Side, shadow: Side, limit: int) -> list[dict[str, Any]]:
    """The first stories of `ids` by time, with the rules each side fired for them."""

    def first(i: str) -> tuple[int, str]:
        return min(s.stories[i][0] for s in (live, shadow) if i in s.stories), i

    out = []
    for i in sorted(ids, key=first)[:limit]:
        story = (live.stories.get(i) or shadow.stories[i])[2]
        out.append({**story, "at": datetime.fromtimestamp(first(i)[0] / 1000, UTC).isoformat(),
                    "live_rules": live.stories.get(i, (0, [], {}))[1],
                    "shadow_rules": shadow.stories.get(i, (0, [], {}))[1]})  # fmt: skip
    return out


async def compare_shadow(settings: Settings, since: datetime, until: datetime | None, examples: int = 10,
                         stop: asyncio.Event | None = None) -> dict[str, Any]:  # fmt: skip
    """Live and shadow alerts of the range side by side: agreement by story, and what only one side sent."""
    stop = stop or asyncio.Event()
    live, shadow = Side(), Side()
    await _read(settings, settings.topics.alerts, since, until, stop, _taker(live, Alert))
    await _read(settings, settings.topics.shadow, since, until, stop, _taker(shadow, ShadowAlert))
    both = set(live.stories) & set(shadow.stories)
    live_only, shadow_only = set(live.stories) - both, set(shadow.stories) - both
    union = len(both) + len(live_only) + len(shadow_only)
    return {
        "mode": "compare-shadow",
        "partial": stop.is_set(),
        "range": {"since": since.isoformat(), "until": until.isoformat() if until else None},
        "live": live.as_dict(kinds=False),
        "shadow": shadow.as_dict(kinds=True),
        "agreement": {
            "both": len(both),
            "live_only": len(live_only),
            "shadow_only": len(shadow_only),
            "rate": round(len(both) / union, 4) if union else None,
        },
        "examples": {
            "both": _examples(both, live, shadow, examples),
            "live_only": _examples(live_only, live, shadow, examples),
            "shadow_only": _examples(shadow_only, live, shadow, examples),
        },
    }


def shadow_summary(r: dict[str, Any]) -> str:
    """A few lines for a person."""
    a, lv, sh = r["agreement"], r["live"], r["shadow"]
    lines = [f"live: {lv['alerts']} alerts on {lv['stories']} stories; shadow: {sh['alerts']} would-be alerts on "
             f"{sh['stories']} stories",
             f"agreement: {a['both']} stories both, {a['live_only']} only live, {a['shadow_only']} only shadow"
             f" (rate {a['rate']})"]  # fmt: skip
    lines += [f"  shadow {rule}: {n}" for rule, n in sh["by_rule"].items()]
    return "\n".join(lines)
