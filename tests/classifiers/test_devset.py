"""The frozen development set stays valid, unchanged and apart from the training data; eval reports per category."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from classifiers.dataset import load_examples
from classifiers.evaluate import category_counts
from classifiers.model import NewsClassifier
from monitor.messages import LABELS

REPO = Path(__file__).resolve().parents[2]
DEV = REPO / "classifiers" / "data" / "dev"
FROZEN = DEV / "frozen.jsonl"
CARD = DEV / "README.md"
LANGS = {
    "en", "ru", "uk", "es", "fr", "de", "ar", "it", "pt", "tr", "pl",
    "nl", "ja", "zh", "ko", "hi", "id", "fa", "cs", "ro", "sv",
}  # fmt: skip
KINDS = {"positive", "hard_negative", "negative"}
FIELDS = {"id", "title", "summary", "labels", "lang", "countries", "kind", "category"}


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FROZEN.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_item_has_valid_fields(items: list[dict[str, Any]]) -> None:
    problems = []
    for it in items:
        ok = (
            set(it) == FIELDS
            and isinstance(it["id"], str)
            and isinstance(it["title"], str)
            and isinstance(it["summary"], str)
            and bool(it["title"].strip() or it["summary"].strip())
            and len(set(it["labels"])) == len(it["labels"])
            and set(it["labels"]) <= set(LABELS)
            and it["lang"] in LANGS
            and all(re.fullmatch(r"[A-Z]{2}", c) for c in it["countries"])
            and it["kind"] in KINDS
            and (it["kind"] == "positive") == bool(it["labels"])
            and re.fullmatch(r"[a-z][a-z_]*", it["category"]) is not None
        )
        if not ok:
            problems.append(it.get("id"))
    assert problems == []
    assert len({it["id"] for it in items}) == len(items)


def test_size_mix_and_feed_like_shapes(items: list[dict[str, Any]]) -> None:
    assert len(items) >= 420
    kinds = Counter(it["kind"] for it in items)
    assert kinds["hard_negative"] / len(items) >= 0.40
    # Real feeds carry items with no title and items of a few words; the set must too.
    assert sum(1 for it in items if not it["title"]) >= 5
    assert sum(1 for it in items if len((it["title"] + " " + it["summary"]).split()) <= 8) >= 20


def test_every_language_has_positives_of_both_labels(items: list[dict[str, Any]]) -> None:
    per_lang = {lang: Counter(lb for it in items if it["lang"] == lang for lb in it["labels"]) for lang in LANGS}
    assert {lang: c for lang, c in per_lang.items() if min(c[lb] for lb in LABELS) < 3} == {}
    hard = Counter(it["lang"] for it in items if it["kind"] == "hard_negative")
    assert min(hard[lang] for lang in LANGS) >= 5


def test_no_title_is_a_training_title(items: list[dict[str, Any]]) -> None:
    training = {e.title.strip().casefold() for e in load_examples()}
    assert [it["id"] for it in items if it["title"] and it["title"].strip().casefold() in training] == []


def test_the_card_records_the_frozen_files_sha256() -> None:
    recorded = re.findall(r"sha256 `([0-9a-f]{64})`", CARD.read_text(encoding="utf-8"))
    assert recorded == [hashlib.sha256(FROZEN.read_bytes()).hexdigest()]


def statistics_rows(items: list[dict[str, Any]]) -> list[str]:
    """The card's per-language table rows, computed from the file."""
    rows = []
    for lang in sorted({it["lang"] for it in items}):
        mine = [it for it in items if it["lang"] == lang]
        labels = Counter(lb for it in mine for lb in it["labels"])
        kinds = Counter(it["kind"] for it in mine)
        rows.append(
            f"| {lang} | {len(mine)} | {labels['cross_border_incident']} | {labels['election']} "
            f"| {kinds['hard_negative']} | {kinds['negative']} |"
        )
    return rows


def test_the_card_statistics_match_the_file(items: list[dict[str, Any]]) -> None:
    card = CARD.read_text(encoding="utf-8")
    assert [row for row in statistics_rows(items) if row not in card] == []
    assert f"{len(items)} items" in card


def test_category_counts_separate_predictions_from_gold() -> None:
    counts = category_counts(
        ["exercise", "incursion", "exercise"],
        [(), ("cross_border_incident",), ()],
        [("cross_border_incident",), ("cross_border_incident",), ()],
    )
    assert counts["exercise"] == {
        "n": 2,
        "cross_border_incident": {"predicted": 1, "gold": 0},
        "election": {"predicted": 0, "gold": 0},
    }
    assert counts["incursion"]["cross_border_incident"] == {"predicted": 1, "gold": 1}


def newsmon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120, check=False)  # fmt: skip


def test_eval_reports_counts_per_category(model: NewsClassifier, models_dir: Path, tmp_path: Path) -> None:
    settings = tmp_path / "s.yaml"
    settings.write_text(f"classifier:\n  model_dir: {models_dir}\n")
    data = tmp_path / "labeled.jsonl"
    rows = [
        {"title": "Voters head to the polls in Ghana", "summary": "", "labels": ["election"], "lang": "en",
         "category": "voting"},
        {"title": "Central bank leaves rates unchanged", "summary": "", "labels": [], "lang": "en",
         "category": "economy"},
        {"title": "Bank raises its deposit rate", "summary": "", "labels": [], "lang": "en", "category": "economy"},
        {"title": "No category on this line", "summary": "", "labels": [], "lang": "en"},
    ]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["--settings", str(settings), "eval", "--input", str(data), "--model", model.version]

    proc = newsmon(*base, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report["by_category"]) == {"voting", "economy"}
    assert report["by_category"]["economy"]["n"] == 2
    assert report["by_category"]["voting"]["election"]["gold"] == 1
    assert report["by_category"]["voting"]["election"]["predicted"] in (0, 1)

    text = newsmon(*base)
    assert text.returncode == 0, text.stderr
    assert re.search(r"^economy\s+2\s", text.stdout, re.M)


# F1 the model last reached on the frozen set (round 5: incident 0.931, election 0.942; round 4: 0.902 and 0.938;
# round 3: 0.876 and 0.929; first measured 0.860 and 0.907), less 0.03: a change that costs more than that on data
# nobody tuned on fails here.
F1_FLOOR = {"cross_border_incident": 0.901, "election": 0.912}


def test_quality_on_the_frozen_set_stays_above_its_floor(items: list[dict[str, Any]], model: NewsClassifier) -> None:
    from classifiers.train import Labeled, evaluate

    rows = [Labeled(i["title"], i["summary"], tuple(i["labels"]), i["lang"]) for i in items]
    report = evaluate(model, rows)
    f1 = {label: report["labels"][label]["f1"] for label in LABELS}
    assert all(f1[label] >= floor for label, floor in F1_FLOOR.items()), f1
