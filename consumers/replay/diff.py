"""The replay against what live alerted for the same stories: alerts added, removed, and label changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers.replay.evaluate import Seen
from consumers.replay.examples import Examples
from consumers.replay.live import LiveAlert

Key = tuple[int, str, str]


def _example(seen: Seen, rule_id: str) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        j = seen.item
        return {"rule_id": rule_id, "item_id": j.item_id, "title": j.title, "url": j.url, "source": j.source,
                "at": seen.at.isoformat(), "labels": list(j.labels),
                "scores": {k: round(v, 4) for k, v in sorted(j.scores.items())}}  # fmt: skip

    return make


class LiveDiff:
    """Compares each replayed story's alerts and labels with the live ones; only stories the replay read count."""

    def __init__(self, live: dict[str, LiveAlert], examples: int) -> None:
        self._live = live
        self._by_item: dict[str, list[LiveAlert]] = {}
        for a in live.values():
            self._by_item.setdefault(a.item_id, []).append(a)
        self._kept: set[str] = set()
        self._live_seen: dict[str, tuple[Key, Callable[[], dict[str, Any]]]] = {}
        self.added = 0
        self.label_changes = 0
        self._added = Examples(examples)
        self._changed = Examples(examples)
        self._removed = Examples(examples)

    def see(self, seen: Seen) -> None:
        for rule_id, eid in seen.alerts:
            if eid in self._live:
                self._kept.add(eid)
            else:
                self.added += 1
                self._added.offer((seen.at_ms, seen.item.item_id, rule_id), _example(seen, rule_id))
        live = self._by_item.get(seen.item.item_id)
        if live and live[0].event_id not in self._live_seen:
            self._first_sight(seen, live)

    def _first_sight(self, seen: Seen, live: list[LiveAlert]) -> None:
        """A story live alerted for: note its live alerts, and whether the replay labels it differently."""
        j = seen.item
        for a in live:
            self._live_seen[a.event_id] = ((seen.at_ms, j.item_id, a.rule_id), _example(seen, a.rule_id))
        before, after = live[0].labels, tuple(sorted(j.labels))
        if before != after:
            self.label_changes += 1
            make = _example(seen, "")
            self._changed.offer((seen.at_ms, j.item_id, ""), lambda: _relabel_entry(make(), before, after))

    def as_dict(self) -> dict[str, Any]:
        removed = sorted(set(self._live_seen) - self._kept)
        for eid in removed:
            self._removed.offer(*self._live_seen[eid])
        return {
            "live_alerts": len(self._live_seen),
            "unchanged": len(self._kept),
            "added": self.added,
            "removed": len(removed),
            "label_changes": self.label_changes,
            "examples": {
                "added": self._added.as_list(),
                "removed": self._removed.as_list(),
                "label_changes": self._changed.as_list(),
            },
        }


def _relabel_entry(entry: dict[str, Any], before: tuple[str, ...], after: tuple[str, ...]) -> dict[str, Any]:
    del entry["rule_id"], entry["labels"]
    return {**entry, "live_labels": list(before), "replay_labels": list(after)}
