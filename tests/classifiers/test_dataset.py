"""The training data keeps the promises of its dataset card: size, balance, languages and a leak-free split."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from classifiers.dataset import DatasetError, Example, load_examples, split_of, statistics

CARD = Path(__file__).resolve().parents[2] / "classifiers" / "data" / "README.md"


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_examples()


def test_size_countries_and_balance(examples: list[Example]) -> None:
    stats = statistics(examples)
    assert stats["examples"] >= 2000
    assert stats["countries"] >= 70
    negatives = [e for e in examples if not e.labels]
    assert len(negatives) / len(examples) >= 0.40
    hard = sum(1 for e in negatives if e.kind == "hard_negative")
    assert hard >= len(negatives) / 2
    # Both labels together must be learnable, not a handful of examples.
    assert stats["both_labels"] >= 60


@pytest.mark.parametrize("lang", ["ru", "uk", "es", "fr", "de", "ar"])
def test_every_required_language_has_enough_examples_of_each_label(examples: list[Example], lang: str) -> None:
    mine = [e for e in examples if e.lang == lang]
    assert len(mine) >= 80
    labels = Counter(lb for e in mine for lb in e.labels)
    assert labels["cross_border_incident"] >= 20 and labels["election"] >= 20
    assert sum(1 for e in mine if e.kind == "hard_negative") >= 15


@pytest.mark.parametrize("lang", ["it", "pt", "tr", "pl", "nl", "ja", "zh", "ko", "hi", "id", "fa", "cs", "ro", "sv"])
def test_every_added_language_has_positives_of_both_labels_and_hard_negatives(
    examples: list[Example], lang: str
) -> None:
    mine = [e for e in examples if e.lang == lang]
    assert len(mine) >= 25
    labels = Counter(lb for e in mine for lb in e.labels)
    assert labels["cross_border_incident"] >= 6 and labels["election"] >= 6
    assert sum(1 for e in mine if e.kind == "hard_negative") >= 8
    # Items of one language must reach more than one split, or the split figures for it mean nothing.
    assert len({e.split for e in mine}) == 3


def test_split_is_by_story_so_no_story_crosses_splits(examples: list[Example]) -> None:
    splits: dict[str, set[str]] = defaultdict(set)
    for e in examples:
        splits[e.story].add(e.split)
    assert all(len(s) == 1 for s in splits.values())
    share = Counter(e.split for e in examples)
    assert 0.6 < share["train"] / len(examples) < 0.8
    assert share["test"] >= 300


def test_titles_are_not_repeated_across_stories(examples: list[Example]) -> None:
    # The same sentence under two story ids would leak between splits.
    owner: dict[str, str] = {}
    clashes = []
    for e in examples:
        key = e.title.strip().lower()
        if key in owner and owner[key] != e.story:
            clashes.append((e.source, e.title))
        owner.setdefault(key, e.story)
    assert clashes == []


def test_held_out_canonical_story_is_not_in_the_training_data(examples: list[Example]) -> None:
    assert not [e.source for e in examples if "gorkovsk" in (e.title + e.summary).lower()]


def test_split_assignment_is_stable() -> None:
    assert split_of("en-example-story") == split_of("en-example-story")
    assert {split_of(f"s{i}") for i in range(200)} == {"train", "validation", "test"}


def test_bad_lines_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"story": "s", "title": "t", "summary": "s", "labels": ["election"], "lang": "en", "kind": "positive"}\n'
        '{"story": "s", "title": "t", "summary": "s", "labels": ["war"], "lang": "en", "kind": "positive"}\n'
    )
    with pytest.raises(DatasetError, match=r"a\.jsonl:2: unknown label"):
        load_examples(tmp_path)


def test_dataset_card_states_the_current_statistics(examples: list[Example]) -> None:
    card = CARD.read_text(encoding="utf-8")
    stats = statistics(examples)
    assert f"{stats['examples']:,} examples" in card
    assert f"{stats['countries']} countries" in card
