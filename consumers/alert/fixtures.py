"""Rules as code: fixtures in the rules file name items and the rules that must and must not fire for them.

`newsmon rules test` runs them through the rules' own matching, with no broker, so a rules repository can gate
its changes in CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.messages import ClassifiedItem, LabelName, Place, RawItem

_Score = Annotated[float, Field(ge=0, le=1)]
# Fixtures are stamped with one fixed time, so a run depends on nothing but the file.
_AT = datetime(2000, 1, 1, tzinfo=UTC)


class FixtureItem(BaseModel):
    """An item written inline: what the rules look at of a classified story."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    summary: str = ""
    labels: list[LabelName] = Field(default_factory=list)
    scores: dict[LabelName, _Score] = Field(default_factory=dict)
    lang: str = Field("en", pattern=r"^[a-z]{2}$")
    source: str = "fixture"
    feed_id: str = "fixture"
    countries: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]] = Field(default_factory=list)
    backfill: bool = False


class FixtureSpec(BaseModel):
    """One fixture: an inline item or the id of an item in `--items`, and the rule ids it must and must not fire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    item: FixtureItem | None = None
    item_id: str | None = Field(None, min_length=1)
    must_fire: list[str] = Field(default_factory=list)
    must_not_fire: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> FixtureSpec:
        if (self.item is None) == (self.item_id is None):
            raise ValueError("give either item (inline) or item_id (an item of `rules test --items`)")
        if not self.must_fire and not self.must_not_fire:
            raise ValueError("give must_fire or must_not_fire (rule ids)")
        both = sorted(set(self.must_fire) & set(self.must_not_fire))
        if both:
            raise ValueError(f"rule {both[0]!r} is both in must_fire and must_not_fire")
        return self


def references(fixtures: list[FixtureSpec], rule_ids: set[str]) -> list[tuple[tuple[object, ...], str]]:
    """Fixture rule ids that name no rule of the file, located for the error message."""
    errors: list[tuple[tuple[object, ...], str]] = []
    for i, f in enumerate(fixtures):
        for key, ids in (("must_fire", f.must_fire), ("must_not_fire", f.must_not_fire)):
            errors += [(("fixtures", i, key, j), f"unknown rule {x!r}") for j, x in enumerate(ids) if x not in rule_ids]
    return errors


@dataclass(frozen=True)
class Fixture:
    """A validated fixture and the line of the rules file it starts on."""

    spec: FixtureSpec
    line: int
    index: int

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.item_id or f"fixture {self.index + 1}"


def inline_item(f: Fixture) -> ClassifiedItem:
    """The classified item an inline fixture describes."""
    it = f.spec.item
    assert it is not None
    raw = RawItem(id=f"fixture-{f.index + 1}", feed_id=it.feed_id, feed_url="", source=it.source, title=it.title,
                  summary=it.summary, published=_AT, fetched_at=_AT, content_hash="", lang=it.lang,
                  backfill=it.backfill)  # fmt: skip
    places = [Place(code=c.upper(), name=c.upper()) for c in it.countries]
    return ClassifiedItem(item=raw, scores=dict(it.scores), labels=list(it.labels), model="fixture", places=places,
                          classified_at=_AT)  # fmt: skip
