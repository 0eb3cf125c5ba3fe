"""The classifier's outputs stay exactly what they were for a fixed set of items, however scoring is sped up."""

from __future__ import annotations

import json
from typing import Any

import pytest

from classifiers.model import NewsClassifier
from tests.support.golden import EXPLAIN, FIXTURE, REGENERATE, outcome, texts


@pytest.fixture(scope="module")
def golden(model: NewsClassifier) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert body["data_sha256"] == model.meta.get("data_sha256"), f"the golden is for other training data: {REGENERATE}"
    return body


def test_scores_labels_places_and_explanations_match_the_golden(model: NewsClassifier, golden: dict[str, Any]) -> None:
    items = golden["items"]
    got = [outcome(p) for p in model.predict_texts(texts(items), EXPLAIN)]
    wrong = [(r["lang"], r["title"][:60], r["expected"], g) for r, g in zip(items, got, strict=True)
             if g != r["expected"]]  # fmt: skip
    assert not wrong, f"{len(wrong)} of {len(items)} items differ ({REGENERATE}); first: {wrong[0]}"


def test_scoring_without_explanations_gives_the_same_scores(model: NewsClassifier, golden: dict[str, Any]) -> None:
    items = golden["items"]
    got = [(p.scores, p.labels, p.explanation) for p in model.predict_texts(texts(items))]
    assert got == [(r["expected"]["scores"], r["expected"]["labels"], {}) for r in items]


def test_a_batch_scores_each_item_as_it_scores_alone(model: NewsClassifier, golden: dict[str, Any]) -> None:
    batch = texts(golden["items"])[:40]
    together = [outcome(p) for p in model.predict_texts(batch, EXPLAIN)]
    alone = [outcome(model.predict_texts([t], EXPLAIN)[0]) for t in batch]
    assert together == alone
