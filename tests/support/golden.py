"""The classifier's golden outputs: scores, labels, places and explanations for a fixed set of items in every language.

The fixture pins what the code computes for one trained model, so a change meant to be a pure speed-up cannot
change an output. It is tied to the data the model was trained on; after retraining on changed data, lexicons or
features, regenerate it with the model for the current tree in models/ (`make model` first):

    .venv/bin/python -m tests.support.golden
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from classifiers.dataset import load_examples
from classifiers.model import NewsClassifier, Prediction
from classifiers.text import model_text

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "classifier_golden.json"
EXPLAIN = 5
_ITEMS = 200
REGENERATE = "regenerate the golden with `.venv/bin/python -m tests.support.golden` if the model was meant to change"


def golden_items() -> list[dict[str, Any]]:
    """Items drawn round-robin over the languages of the training data, some without a title of their own."""
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in load_examples():
        by_lang[e.lang].append({"lang": e.lang, "title": e.title, "summary": e.summary, "title_derived": False})
    rng = random.Random(10)
    for rows in by_lang.values():
        rng.shuffle(rows)
    picked: list[dict[str, Any]] = []
    while len(picked) < _ITEMS and any(by_lang.values()):
        for lang in sorted(by_lang):
            if by_lang[lang] and len(picked) < _ITEMS:
                picked.append(by_lang[lang].pop())
    for row in picked[::17]:
        # As normalization stores an entry that had no title: the summary's start, flagged as derived.
        row["title"], row["title_derived"] = row["summary"][:120], True
    return picked


def texts(items: list[dict[str, Any]]) -> list[str]:
    return [model_text(r["title"], r["summary"], r["title_derived"]) for r in items]


def outcome(p: Prediction) -> dict[str, Any]:
    """A prediction as plain JSON: what the Kafka stage publishes of it."""
    return {
        "scores": p.scores,
        "labels": p.labels,
        "places": [[pl.code, pl.name, pl.kind] for pl in p.places],
        "explanation": {k: [[c.feature, c.weight] for c in v] for k, v in p.explanation.items()},
    }


def compute(model: NewsClassifier) -> dict[str, Any]:
    items = golden_items()
    preds = model.predict_texts(texts(items), EXPLAIN)
    return {
        "data_sha256": model.meta.get("data_sha256"),
        "model": model.version,
        "items": [{**r, "expected": outcome(p)} for r, p in zip(items, preds, strict=True)],
    }


def main() -> None:
    from classifiers.train import is_current

    models_dir = Path(__file__).resolve().parents[2] / "models"
    version = is_current(models_dir)
    if version is None:
        raise SystemExit("no model for the current data and code in models/: run `make model` first")
    body = compute(NewsClassifier.load(models_dir, version))
    FIXTURE.parent.mkdir(exist_ok=True)
    # One item a line: a regenerated golden diffs item by item.
    lines = [json.dumps(item, ensure_ascii=False, sort_keys=True) for item in body.pop("items")]
    head = json.dumps(body, sort_keys=True)[:-1]
    FIXTURE.write_text(head + ', "items": [\n' + ",\n".join(lines) + "\n]}\n", encoding="utf-8")
    print(f"wrote {len(lines)} items for model {version} to {FIXTURE.name}")


if __name__ == "__main__":
    main()
