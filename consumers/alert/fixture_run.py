"""Running a rules file's fixtures: each item through the rules' matching, each expectation checked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from consumers.alert.fixtures import Fixture, inline_item
from consumers.alert.rules import RuleSet
from monitor.messages import ClassifiedItem, DecodeError, decode


@dataclass(frozen=True)
class Miss:
    """One expectation a fixture did not meet, located at the fixture's line."""

    where: str
    fixture: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.fixture}: {self.problem}"


def load_items(path: Path) -> dict[str, ClassifiedItem]:
    """Classified items (JSON lines, the value format of news.classified) by id; ValueError names a bad line."""
    out: dict[str, ClassifiedItem] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                c = decode(ClassifiedItem, line.encode("utf-8"))
            except DecodeError as exc:
                raise ValueError(f"{path}:{n}: {exc}") from exc
            out[c.item.id] = c
    return out


def fired(rules: RuleSet, c: ClassifiedItem) -> dict[str, list[str]]:
    """Every enabled rule that fires for the item, live or shadow, with its reasons."""
    return {r.id: reasons for r in rules.rules if r.spec.enabled and (reasons := r.match(c)) is not None}


def _item(f: Fixture, items: dict[str, ClassifiedItem]) -> ClassifiedItem | str:
    """The fixture's item, or why there is none."""
    if f.spec.item is not None:
        return inline_item(f)
    found = items.get(f.spec.item_id or "")
    return found if found is not None else f"item {f.spec.item_id!r} is not among the items given with --items"


def check(rules: RuleSet, f: Fixture, items: dict[str, ClassifiedItem]) -> list[str]:
    """The fixture's unmet expectations, each in words; empty when it passes."""
    c = _item(f, items)
    if isinstance(c, str):
        return [c]
    got = fired(rules, c)
    said = ", ".join(got) or "none"
    problems = [f"rule {x!r} did not fire (fired: {said})" for x in f.spec.must_fire if x not in got]
    problems += [f"rule {x!r} fired but must not ({'; '.join(got[x])})" for x in f.spec.must_not_fire if x in got]
    return problems


def run_fixtures(rules: RuleSet, items: dict[str, ClassifiedItem]) -> Iterable[Miss]:
    """Every miss of every fixture in the file, in file order."""
    for f in rules.fixtures:
        for problem in check(rules, f, items):
            yield Miss(f"{rules.path}:{f.line}", f.name, problem)
