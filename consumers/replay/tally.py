"""Counts over the replayed items: labels, score histograms, alerts per rule and hour, sources and languages."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from consumers.replay.evaluate import Seen
from monitor.messages import LABELS

BINS = 10
_HOUR_MS = 3_600_000


def _bin(score: float) -> int:
    return min(BINS - 1, max(0, int(score * BINS)))


def _hour(index: int) -> str:
    return datetime.fromtimestamp(index * 3600, UTC).strftime("%Y-%m-%dT%H:00Z")


class Tally:
    """Running counts of what the replay read and would have alerted; bounded by rules, hours, sources, labels."""

    def __init__(self) -> None:
        self.items = 0
        self.alerts = 0
        self.labels: Counter[str] = Counter()
        self.histograms = {label: [0] * BINS for label in LABELS}
        self.by_rule: Counter[str] = Counter()
        self.per_hour: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.sources: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.languages: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, seen: Seen) -> None:
        j = seen.item
        self.items += 1
        self.alerts += len(seen.alerts)
        self.labels.update(j.labels)
        for label in LABELS:
            self.histograms[label][_bin(j.scores.get(label, 0.0))] += 1
        for rule_id, _ in seen.alerts:
            self.by_rule[rule_id] += 1
            self.per_hour[rule_id][seen.at_ms // _HOUR_MS] += 1
        for table, key in ((self.sources, j.source or j.feed_id), (self.languages, j.lang or "?")):
            row = table[key]
            row["items"] += 1
            row["alerts"] += len(seen.alerts)
            row.update(j.labels)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "labels": {label: self.labels[label] for label in LABELS},
            "score_histograms": {"bins": BINS, **self.histograms},
            "alerts": {
                "total": self.alerts,
                "by_rule": dict(sorted(self.by_rule.items())),
                "per_hour": {
                    rule: {_hour(h): n for h, n in sorted(hours.items())}
                    for rule, hours in sorted(self.per_hour.items())
                },
            },
            "by_source": {k: dict(sorted(v.items())) for k, v in sorted(self.sources.items())},
            "by_language": {k: dict(sorted(v.items())) for k, v in sorted(self.languages.items())},
        }
