"""The replay against what live alerted for the same stories: alerts added, removed, and label changes."""

from __future__ import annotations

from typing import Any

from consumers.replay.evaluate import Seen
from consumers.replay.examples import Examples
from consumers.replay.live import LiveAlert
from monitor.messages import Alert, ClassifiedItem


def _example(seen: Seen, rule_id: str, c: ClassifiedItem) -> dict[str, Any]:
    it = c.item
    return {"rule_id": rule_id, "item_id": it.id, "title": it.title, "url": it.url, "source": it.source,
            "at": seen.at.isoformat(), "labels": sorted(c.labels),
            "scores": {k: round(v, 4) for k, v in sorted(c.scores.items())}}  # fmt: skip


class LiveDiff:
    """Compares each replayed story's alerts and labels with the live ones; only stories the replay read count."""

    def __init__(self, live: dict[str, LiveAlert], examples: int) -> None:
        self._live = live
        self._by_item: dict[str, list[LiveAlert]] = {}
        for a in live.values():
            self._by_item.setdefault(a.item_id, []).append(a)
        self._kept: set[str] = set()
        self._seen_live: set[str] = set()
        self._removed_at: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self.added = 0
        self.label_changes = 0
        self._added = Examples(examples)
        self._changed = Examples(examples)
        self._removed = Examples(examples)

    def see(self, seen: Seen) -> None:
        for a in seen.alerts:
            self._alert(seen, a)
        live = self._by_item.get(seen.item.item.id)
        if live and seen.item.item.id not in self._seen_live:
            self._first_sight(seen, live)

    def _alert(self, seen: Seen, a: Alert) -> None:
        if a.event_id in self._live:
            self._kept.add(a.event_id)
            return
        self.added += 1
        self._added.offer((seen.at, a.item.item.id, a.rule_id), _example(seen, a.rule_id, a.item))

    def _first_sight(self, seen: Seen, live: list[LiveAlert]) -> None:
        """A story live alerted for: note its live alerts, and whether the replay labels it differently."""
        c = seen.item
        self._seen_live.add(c.item.id)
        for a in live:
            self._removed_at[a.event_id] = ((seen.at, c.item.id, a.rule_id), _example(seen, a.rule_id, c))
        before, after = live[0].labels, tuple(sorted(c.labels))
        if before != after:
            self.label_changes += 1
            entry = {**_example(seen, "", c), "live_labels": list(before), "replay_labels": list(after)}
            del entry["rule_id"], entry["labels"]
            self._changed.offer((seen.at, c.item.id), entry)

    def as_dict(self) -> dict[str, Any]:
        removed = sorted(set(self._removed_at) - self._kept)
        for eid in removed:
            self._removed.offer(*self._removed_at[eid])
        return {
            "live_alerts": len(self._removed_at),
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
