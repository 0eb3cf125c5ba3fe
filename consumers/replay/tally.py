"""Counts over the replayed items: labels, score histograms, alerts per rule and hour, sources and languages."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from consumers.replay.evaluate import Seen
from monitor.messages import LABELS

BINS = 10


def _bin(score: float) -> int:
    return min(BINS - 1, max(0, int(score * BINS)))


class Tally:
    """Running counts of what the replay read and would have alerted; bounded by rules, hours, sources, labels."""

    def __init__(self) -> None:
        self.items = 0
        self.alerts = 0
        self.labels: Counter[str] = Counter()
        self.histograms = {label: [0] * BINS for label in LABELS}
        self.by_rule: Counter[str] = Counter()
        self.per_hour: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.sources: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.languages: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, seen: Seen) -> None:
        c = seen.item
        self.items += 1
        self.alerts += len(seen.alerts)
        self.labels.update(c.labels)
        for label in LABELS:
            self.histograms[label][_bin(c.scores.get(label, 0.0))] += 1
        hour = seen.at.strftime("%Y-%m-%dT%H:00Z")
        for a in seen.alerts:
            self.by_rule[a.rule_id] += 1
            self.per_hour[a.rule_id][hour] += 1
        for table, key in ((self.sources, c.item.source or c.item.feed_id), (self.languages, c.item.lang or "?")):
            table[key]["items"] += 1
            table[key]["alerts"] += len(seen.alerts)
            table[key].update(c.labels)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "labels": {label: self.labels[label] for label in LABELS},
            "score_histograms": {"bins": BINS, **self.histograms},
            "alerts": {
                "total": self.alerts,
                "by_rule": dict(sorted(self.by_rule.items())),
                "per_hour": {rule: dict(sorted(h.items())) for rule, h in sorted(self.per_hour.items())},
            },
            "by_source": {k: dict(sorted(v.items())) for k, v in sorted(self.sources.items())},
            "by_language": {k: dict(sorted(v.items())) for k, v in sorted(self.languages.items())},
        }
