"""Whether an item joins a story: pure rules over the evidence (text similarity, places, labels, time gap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from consumers.stories.params import Params

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# In order of strength: a candidate story joined by an earlier rule beats one joined by a later rule.
RULES = ("copy", "similar", "related", "place", "country")


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an item and a story have in common."""

    similarity: float  # estimated Jaccard similarity of the text with the story's closest member
    gap_h: float  # hours between the item and the story's time span (0 inside it)
    shared_spots: int  # places below country level both mention
    country_overlap: float  # Jaccard similarity of their country sets (1 when both have none)
    countries_disjoint: bool  # both name countries, and none in common
    shares_country: bool
    labels_agree: bool  # a label in common, or one side has none (the classifier misses some in other languages)
    shares_label: bool


def gap_hours(t: datetime, first: datetime, last: datetime) -> float:
    """Hours from `t` to the span [first, last]; 0 when inside it."""
    if t < first:
        return (first - t).total_seconds() / 3600
    if t > last:
        return (t - last).total_seconds() / 3600
    return 0.0


def micros(t: datetime) -> int:
    """Microseconds since the epoch: exact, as a datetime is."""
    return (t - _EPOCH) // _MICROSECOND


def gap_hours_us(t: int, first: int, last: int) -> float:
    """`gap_hours` over microseconds, to the last bit: `timedelta.total_seconds` divides microseconds the same way."""
    if t < first:
        return (first - t) / 1_000_000 / 3600
    if t > last:
        return (t - last) / 1_000_000 / 3600
    return 0.0


def overlap(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def rule(e: Evidence, p: Params) -> str | None:
    """The first rule the evidence meets, or None when the item does not join the story."""
    if e.similarity >= p.copy_similarity and e.gap_h <= p.copy_gap_h:
        return "copy"
    if e.similarity >= p.similar_similarity and e.gap_h <= p.similar_gap_h and not e.countries_disjoint:
        return "similar"
    if not e.labels_agree or e.countries_disjoint:
        return None
    if e.similarity >= p.related_similarity and e.shares_country and e.gap_h <= p.related_gap_h:
        return "related"
    # Without shared wording only the places and the time speak, so both must agree closely (other languages).
    if e.shared_spots and e.gap_h <= p.place_gap_h and e.country_overlap >= p.place_min_country_overlap:
        return "place"
    if e.shares_label and e.country_overlap >= p.country_min_overlap and e.gap_h <= p.country_gap_h:
        return "country"
    return None


def unambiguous(found: list[tuple[str, Evidence]]) -> list[tuple[str, Evidence]]:
    """Drop the stories joined by country alone when there are several: busy borders have many at once."""
    by_country = [f for f in found if f[0] == "country"]
    return found if len(by_country) <= 1 else [f for f in found if f[0] != "country"]


def rank(reason: str, e: Evidence) -> tuple[int, float, float]:
    """Sort key among the stories an item could join: the strongest rule, then the closest text, then time."""
    return (RULES.index(reason), -e.similarity, e.gap_h)
