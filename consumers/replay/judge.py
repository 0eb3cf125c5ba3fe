"""Decoding, classifying and matching one batch of records: pure work that runs in a thread or worker processes.

Each item comes back as a small `Judged` record (the rules it matches before suppression), so the ordered part of a
replay (suppression, counts, the diff) stays cheap in the parent process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import msgspec

from consumers.alert.rules import RuleSet, load_rules
from monitor.messages import (
    LABELS,
    ClassifiedItem,
    ClassifiedView,
    DecodeError,
    ItemView,
    PlaceView,
    RawItem,
    decode,
    decode_view,
    encode,
)

if TYPE_CHECKING:
    # Imported where used: a worker process of a rules-only replay then starts without the model's libraries.
    from classifiers.model import NewsClassifier
    from consumers.stories.facts import Facts

Classified = ClassifiedView | ClassifiedItem
T = TypeVar("T")


class Judged(NamedTuple):
    """One item as classified for the replay, with the ids of the rules it matches (suppression not yet applied).

    A tuple: batches of them come back from the worker processes, and a tuple pickles several times faster.
    """

    position: int  # in the batch
    item_id: str
    source: str
    feed_id: str
    lang: str
    title: str
    url: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    rules: tuple[str, ...]
    # The classified item as encoded for a topic, kept only when the replay writes its outputs.
    value: bytes | None = None
    # For a replay on stories: what clustering needs of the item, and its feed's tier.
    facts: Facts | None = None
    tier: str = "outlet"


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
    keep_items: bool = False
    stories: bool = False


def relabelled(c: Classified, thresholds: dict[str, float]) -> Classified:
    """The item with each label that has a threshold here decided anew from its score; the others as they were."""
    if not thresholds:
        return c
    labels = [x for x in LABELS if (c.scores.get(x, 0.0) >= thresholds[x] if x in thresholds else x in c.labels)]
    if isinstance(c, ClassifiedItem):
        return c.model_copy(update={"labels": labels})
    return msgspec.structs.replace(c, labels=labels)


def _judged(position: int, c: Classified, rules: RuleSet, keep: bool, stories: bool) -> Judged:
    it = c.item
    matched = tuple(rule.id for rule, _ in rules.matches(c))
    base = (position, it.id, it.source, it.feed_id, it.lang, it.title, it.url, tuple(c.labels), c.scores, matched)
    if isinstance(c, ClassifiedView):
        return Judged(*base)
    return Judged(*base, encode(c) if keep else None, _facts(c) if stories else None, c.item.tier)


def _facts(c: ClassifiedItem) -> Facts:
    from consumers.stories.facts import from_classified

    return from_classified(c)


def _each(values: list[bytes | None], out: Judgement, read: Callable[[bytes | None], T]) -> list[tuple[int, T]]:
    """Each value read, with its index; an undecodable one is recorded in `out.bad` with its reason."""
    found = []
    for i, value in enumerate(values):
        try:
            found.append((i, read(value)))
        except DecodeError as exc:
            out.bad.append((i, str(exc)))
    return found


class Judge:
    """Turns record values into judged items with the chosen rules and, for `news.raw`, the chosen model.

    Records are read as views (the fields scoring and rules use), unless the replay writes its items to output topics
    or clusters them into stories: those need the whole message.
    """

    def __init__(self, spec: JudgeSpec, rules: RuleSet | None = None, model: NewsClassifier | None = None) -> None:
        self.rules = rules or load_rules(spec.rules_path)
        self.model = model
        if model is None and spec.model_dir is not None:
            from classifiers.model import NewsClassifier

            self.model = NewsClassifier.load(spec.model_dir, spec.model_version)
        self._thresholds = spec.thresholds
        self._keep = spec.keep_items
        self._stories = spec.stories

    def __call__(self, values: list[bytes | None], first: int = 0) -> Judgement:
        """Judge the values; indexes count from `first` (the position of this chunk in its batch)."""
        out = Judgement()
        keep, stories = self._keep, self._stories
        read = self._read(values, out)
        out.items = [_judged(first + i, relabelled(c, self._thresholds), self.rules, keep, stories) for i, c in read]
        out.bad = [(first + i, reason) for i, reason in out.bad]
        return out

    def _read(self, values: list[bytes | None], out: Judgement) -> list[tuple[int, Classified]]:
        """The values as classified items: views when they suffice, whole messages when kept or clustered."""
        if self._keep or self._stories:
            whole = self._decoded(values, out) if self.model is None else self._rescored(self.model, values, out)
            return list(whole)
        views = self._classified(values, out) if self.model is None else self._scored(self.model, values, out)
        return list(views)

    @staticmethod
    def _classified(values: list[bytes | None], out: Judgement) -> list[tuple[int, ClassifiedView]]:
        return _each(values, out, lambda v: decode_view(ClassifiedView, v))

    @staticmethod
    def _scored(model: NewsClassifier, values: list[bytes | None], out: Judgement) -> list[tuple[int, ClassifiedView]]:
        from classifiers.text import model_text

        raw = _each(values, out, lambda v: decode_view(ItemView, v))
        # Scored as the classify stage scores (same text, same model); explanations are not compared by a replay.
        preds = model.predict_texts([model_text(it.title, it.summary, it.title_derived) for _, it in raw])
        return [
            (i, ClassifiedView(it, p.scores, p.labels, [PlaceView(x.code, x.name, x.kind) for x in p.places]))
            for (i, it), p in zip(raw, preds, strict=True)
        ]

    @staticmethod
    def _decoded(values: list[bytes | None], out: Judgement) -> list[tuple[int, ClassifiedItem]]:
        return _each(values, out, lambda v: decode(ClassifiedItem, v))

    @staticmethod
    def _rescored(
        model: NewsClassifier, values: list[bytes | None], out: Judgement
    ) -> list[tuple[int, ClassifiedItem]]:
        from consumers.classify.scoring import classify_items

        raw = _each(values, out, lambda v: decode(RawItem, v))
        scored = classify_items(model, [it for _, it in raw], explain=0)
        return [(i, c) for (i, _), c in zip(raw, scored, strict=True)]
