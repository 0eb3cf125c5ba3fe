"""Clustering a labeled set and scoring it with B-cubed precision, recall and F1 against the gold events."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from consumers.stories.cluster import Clusterer
from consumers.stories.domains import registered_domain
from consumers.stories.facts import Facts, place_sets, text_of
from consumers.stories.params import Params
from monitor.messages import Place

LABELED = Path(__file__).parent / "data" / "labeled.jsonl"
# Places and labels of (title, lead) pairs, as the classifier finds them.
Annotate = Callable[[list[tuple[str, str]]], list[tuple[list[Place], list[str]]]]


class BadLabeledLine(ValueError):
    """A line of a labeled set that is not an item with the fields clustering needs (bad input)."""


@dataclass(frozen=True, slots=True)
class Scores:
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Report:
    scores: Scores
    items: int
    events: int
    stories: int
    reasons: dict[str, int]
    assigned: dict[str, str]


def bcubed(predicted: Mapping[str, str], gold: Mapping[str, str]) -> Scores:
    """B-cubed precision and recall: per item, the share of its predicted cluster in its gold one and back."""
    by_pred: dict[str, set[str]] = {}
    by_gold: dict[str, set[str]] = {}
    for item, c in predicted.items():
        by_pred.setdefault(c, set()).add(item)
    for item, c in gold.items():
        by_gold.setdefault(c, set()).add(item)
    p = r = 0.0
    for item in gold:
        mine, truth = by_pred[predicted[item]], by_gold[gold[item]]
        common = len(mine & truth)
        p += common / len(mine)
        r += common / len(truth)
    n = len(gold) or 1
    p, r = p / n, r / n
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def read_labeled(path: Path) -> list[dict[str, Any]]:
    """The lines of a labeled set, each checked for the fields clustering needs."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            rows.append(_checked(line, n))
    return rows


def _checked(line: str, n: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLabeledLine(f"line {n}: not JSON ({exc.msg})") from exc
    missing = [k for k in ("id", "event", "title", "published") if not isinstance(row, dict) or k not in row]
    if missing:
        raise BadLabeledLine(f"line {n}: missing {', '.join(missing)}")
    return row


def facts_of(row: Mapping[str, Any], places: Iterable[Place], labels: Iterable[str]) -> Facts:
    countries, spots = place_sets(places)
    return Facts(
        item_id=row["id"],
        headline=row["title"],
        text=text_of(row["title"], row.get("lead", "")),
        lang=row.get("lang", ""),
        published=datetime.fromisoformat(row["published"].replace("Z", "+00:00")),
        outlet=row.get("outlet", ""),
        domain=registered_domain(row.get("url") or row.get("domain", "")),
        countries=countries,
        spots=spots,
        labels=frozenset(labels),
    )


def gold_facts(rows: list[dict[str, Any]]) -> list[Facts]:
    """Facts with the places and labels annotated in the set."""
    return [facts_of(r, [Place(**p) for p in r.get("places", [])], r.get("labels", [])) for r in rows]


def classified_facts(rows: list[dict[str, Any]], annotate: Annotate) -> list[Facts]:
    """Facts with the places and labels the classifier finds in each title and lead."""
    found = annotate([(r["title"], r.get("lead", "")) for r in rows])
    return [facts_of(r, places, labels) for r, (places, labels) in zip(rows, found, strict=True)]


def evaluate(rows: list[dict[str, Any]], facts: list[Facts], params: Params | None = None) -> Report:
    """Cluster the items in order of publication and score the stories against the gold events."""
    clusterer = Clusterer(params)
    assigned: dict[str, str] = {}
    reasons: Counter[str] = Counter()
    for f in sorted(facts, key=lambda f: f.published):
        a = clusterer.assign(f)
        assigned[f.item_id] = a.story_id
        reasons[a.reason] += 1
    gold = {r["id"]: r["event"] for r in rows}
    return Report(bcubed(assigned, gold), len(rows), len(set(gold.values())), len(set(assigned.values())),
                  dict(reasons), assigned)  # fmt: skip
