"""Counts over the replayed items: labels, score histograms, alerts per rule and hour, sources and languages."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import numpy as np

from consumers.replay.evaluate import Seen
from monitor.messages import LABELS

BINS = 10
_HOUR_MS = 3_600_000


def _bins(scores: list[float]) -> np.ndarray:
    """How many scores fall in each tenth of [0, 1] (a score of 1 in the last; out of range clipped)."""
    index = np.clip((np.asarray(scores, dtype=np.float64) * BINS).astype(np.int64), 0, BINS - 1)
    return np.bincount(index, minlength=BINS)


def _hour(index: int) -> str:
    return datetime.fromtimestamp(index * 3600, UTC).strftime("%Y-%m-%dT%H:00Z")


class Tally:
    """Running counts of what the replay read and would have alerted; bounded by rules, hours, sources, labels.

    Counted a batch at a time: most items carry no label and no alert, and counting their plain fields in bulk
    (C-level counters, one numpy histogram per label) keeps the per-item cost of a replay small.
    """

    def __init__(self) -> None:
        self.items = 0
        self.alerts = 0
        self.labels: Counter[str] = Counter()
        self.histograms = {label: [0] * BINS for label in LABELS}
        self.by_rule: Counter[str] = Counter()
        self.per_hour: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self.sources: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.languages: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def add(self, seen: Sequence[Seen]) -> None:
        """Count a batch of replayed items."""
        items = [s.item for s in seen]
        self.items += len(items)
        self.labels.update(chain.from_iterable(j.labels for j in items))
        for label in LABELS:
            counts = _bins([j.scores.get(label, 0.0) for j in items])
            self.histograms[label] = [a + int(b) for a, b in zip(self.histograms[label], counts, strict=True)]
        for table, keys in ((self.sources, [j.source or j.feed_id for j in items]),
                            (self.languages, [j.lang or "?" for j in items])):  # fmt: skip
            for key, n in Counter(keys).items():
                row = table[key]
                row["items"] += n
                row["alerts"] += 0  # every row names its alerts, none or some
            for key, s in zip(keys, seen, strict=True):
                if s.alerts or s.item.labels:
                    row = table[key]
                    row["alerts"] += len(s.alerts)
                    row.update(s.item.labels)
        for s in seen:
            self._alerted(s)

    def _alerted(self, s: Seen) -> None:
        self.alerts += len(s.alerts)
        for rule_id, _ in s.alerts:
            self.by_rule[rule_id] += 1
            self.per_hour[rule_id][s.at_ms // _HOUR_MS] += 1

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
