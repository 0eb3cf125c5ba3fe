"""The knobs of story clustering, with the defaults measured on the labeled set."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.settings import StorySettings


@dataclass(frozen=True, slots=True)
class Params:
    """How far back stories stay open and how much evidence joins an item to one."""

    window_h: float = 72.0
    num_perm: int = 64
    # The LSH index finds stories whose text is at least about this similar; the rules below decide.
    lsh_threshold: float = 0.2
    # Members of a story whose signatures are kept and indexed: wire copies of an event resemble its first reports.
    indexed_members: int = 8
    # Copy: nearly the same text (a rewrite of the same wire copy).
    copy_similarity: float = 0.6
    copy_gap_h: float = 24.0
    # Similar: much of the text in common, and no country of the one missing from the other.
    similar_similarity: float = 0.25
    similar_gap_h: float = 12.0
    # Related: some wording in common (names, numbers), a country in common, within hours.
    related_similarity: float = 0.15
    related_gap_h: float = 8.0
    # Place: other wording or another language, but the same village or town and countries, within hours.
    place_gap_h: float = 8.0
    place_min_country_overlap: float = 0.5
    # Country: the same labelled kind of event in mostly the same countries within a few hours, and no other
    # open story that would qualify as well.
    country_gap_h: float = 6.0
    country_min_overlap: float = 0.5
    # Stories looked at per country an item names (the most recently active), beyond those its text or places find.
    per_country_candidates: int = 8


def params_from(settings: StorySettings) -> Params:
    """The clustering parameters an operator sets; the rules keep their measured defaults."""
    return Params(window_h=settings.window_h, num_perm=settings.num_perm)
