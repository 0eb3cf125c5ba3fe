"""Decoding, classifying and matching one batch of records: pure work that runs in a thread or worker processes.

Each item comes back as a small `Judged` record (the rules it matches before suppression), so the ordered part of a
replay (suppression, counts, the diff) stays cheap in the parent process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from classifiers.model import NewsClassifier
from consumers.alert.rules import RuleSet, load_rules
from consumers.classify.scoring import classify_items
from monitor.messages import LABELS, ClassifiedItem, DecodeError, RawItem, decode


@dataclass(frozen=True, slots=True)
class Judged:
    """One item as classified for the replay, with the ids of the rules it matches (suppression not yet applied)."""

    index: int
    item_id: str
    source: str
    feed_id: str
    lang: str
    title: str
    url: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    rules: tuple[str, ...]


@dataclass
class Judgement:
    """One batch's outcome, in input order: the items, and the index and reason of each undecodable record."""

    items: list[Judged] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class JudgeSpec:
    """What a judge needs, picklable for worker processes: the rules file, and the model for `news.raw`."""

    rules_path: Path
    model_dir: Path | None
    model_version: str
    thresholds: dict[str, float]


def relabelled(c: ClassifiedItem, thresholds: dict[str, float]) -> ClassifiedItem:
    """The item with each label that has a threshold here decided anew from its score; the others as they were."""
    if not thresholds:
        return c
    labels = [x for x in LABELS if (c.scores.get(x, 0.0) >= thresholds[x] if x in thresholds else x in c.labels)]
    return c.model_copy(update={"labels": labels})


def _judged(index: int, c: ClassifiedItem, rules: RuleSet) -> Judged:
    it = c.item
    matched = tuple(rule.id for rule, _ in rules.matches(c))
    return Judged(index, it.id, it.source, it.feed_id, it.lang, it.title, it.url, tuple(c.labels), c.scores, matched)


class Judge:
    """Turns record values into judged items with the chosen rules and, for `news.raw`, the chosen model."""

    def __init__(self, spec: JudgeSpec, rules: RuleSet | None = None, model: NewsClassifier | None = None) -> None:
        self.rules = rules or load_rules(spec.rules_path)
        self.model = model
        if model is None and spec.model_dir is not None:
            self.model = NewsClassifier.load(spec.model_dir, spec.model_version)
        self._thresholds = spec.thresholds

    def __call__(self, values: list[bytes | None], first: int = 0) -> Judgement:
        """Judge the values; indexes count from `first` (the position of this chunk in its batch)."""
        out = Judgement()
        classified = self._classified(values, out) if self.model is None else self._scored(self.model, values, out)
        out.items = [_judged(first + i, relabelled(c, self._thresholds), self.rules) for i, c in classified]
        out.bad = [(first + i, reason) for i, reason in out.bad]
        return out

    @staticmethod
    def _classified(values: list[bytes | None], out: Judgement) -> list[tuple[int, ClassifiedItem]]:
        found = []
        for i, value in enumerate(values):
            try:
                found.append((i, decode(ClassifiedItem, value)))
            except DecodeError as exc:
                out.bad.append((i, str(exc)))
        return found

    @staticmethod
    def _scored(model: NewsClassifier, values: list[bytes | None], out: Judgement) -> list[tuple[int, ClassifiedItem]]:
        raw = []
        for i, value in enumerate(values):
            try:
                raw.append((i, decode(RawItem, value)))
            except DecodeError as exc:
                out.bad.append((i, str(exc)))
        # Explanations are not compared by a replay; leaving them out halves the scoring time.
        scored = classify_items(model, [it for _, it in raw], explain=0)
        return [(i, c) for (i, _), c in zip(raw, scored, strict=True)]
