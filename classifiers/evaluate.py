"""Per-category confusion for `newsmon eval`: how often each label fires on each category of a labeled set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from monitor.messages import LABELS

if TYPE_CHECKING:
    from classifiers.model import NewsClassifier
    from classifiers.train import Labeled


def category_counts(
    categories: Sequence[str], gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
) -> dict[str, dict[str, Any]]:
    """Per category: its item count and, per label, how many items the model predicted and how many carry it."""
    out: dict[str, dict[str, Any]] = {}
    for category, want, got in zip(categories, gold, predicted, strict=True):
        block = out.setdefault(category, {"n": 0, **{lb: {"predicted": 0, "gold": 0} for lb in LABELS}})
        block["n"] += 1
        for lb in LABELS:
            block[lb]["predicted"] += lb in got
            block[lb]["gold"] += lb in want
    return dict(sorted(out.items()))


def by_category(model: NewsClassifier, rows: Sequence[Labeled], categories: Sequence[str]) -> dict[str, Any]:
    """Score the rows and count predictions per category (rows without a category are left out)."""
    kept = [(r, c) for r, c in zip(rows, categories, strict=True) if c]
    if not kept:
        return {}
    preds = model.predict([(r.title, r.summary) for r, _ in kept])
    return category_counts([c for _, c in kept], [r.labels for r, _ in kept], [p.labels for p in preds])


def category_lines(report: dict[str, Any]) -> list[str]:
    """The per-category table as text: items, then predicted/gold counts per label."""
    head = f"{'category':28} {'n':>4}" + "".join(f" {lb + ' pred/gold':>32}" for lb in LABELS)
    rows = [
        f"{cat:28} {block['n']:4d}"
        + "".join(f" {block[lb]['predicted']:>25d}/{block[lb]['gold']:<6d}" for lb in LABELS)
        for cat, block in report.items()
    ]
    return [head, *rows]
