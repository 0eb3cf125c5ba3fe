"""Domain features: lexicon counts, countries and neighbour pairs, and their interactions, with readable names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from classifiers.gazetteer import Gazetteer
from classifiers.lexicon import CATEGORIES, Lexicon, LexiconHit
from monitor.messages import Place

# Pairs of signals whose co-occurrence carries meaning neither has alone.
_INTERACTIONS = (
    ("hostile", "border"),
    ("hostile", "neighbours"),
    ("hostile", "two_countries"),
    ("border", "neighbours"),
    ("election", "office"),
    ("election_weak", "office"),
    ("election", "election_weak"),
    ("election_weak", "orgvote"),
    ("election_weak", "lawmaking"),
    ("election", "orgvote"),
    ("election", "lawmaking"),
    ("border", "economy"),
    ("hostile", "economy"),
    ("election", "country"),
    ("hostile", "hotspot"),
    # Contexts that make border and hostile words mean something else: works, statistics and staff at a border,
    # exercises, a war inside one country, a text saying nothing was violated, an election in a contested area.
    ("border", "civil"),
    ("hostile", "civil"),
    ("border", "drill"),
    ("hostile", "drill"),
    ("hostile", "internal"),
    ("hostile", "lawful"),
    ("hostile", "inland"),
    ("election", "border"),
    ("election_weak", "civil"),
    # Narrower settings: building or marking a border, counting crossings, animals and ash, drills between
    # neighbours, and a vote for a post inside a party, union or federation rather than for public office.
    ("border", "works"),
    ("hostile", "works"),
    ("border", "figures"),
    ("hostile", "figures"),
    ("border", "nature"),
    ("hostile", "nature"),
    ("drill", "neighbours"),
    ("border", "lawful"),
    ("election", "post"),
    ("election_weak", "post"),
    ("office", "post"),
    # A war reported with both belligerents named (front-line news) and a chamber voting on a nominee or a bill.
    ("internal", "neighbours"),
    ("lawmaking", "office"),
    # Votes on a campus or by a show's audience, not for public office.
    ("election", "campus"),
    ("election_weak", "campus"),
    ("election", "audience"),
    ("election_weak", "audience"),
)


_GEO = ("geo:country", "geo:two_countries", "geo:neighbours", "geo:hotspot", "geo:no_place", "geo:inland")
# The named features in column order, and the signals the interactions combine (the categories, then geography).
NAMES = (*(f"lex:{c}" for c in CATEGORIES), *_GEO, *(f"x:{a}*{b}" for a, b in _INTERACTIONS))
_SIGNALS = (*CATEGORIES, "neighbours", "two_countries", "country", "hotspot", "inland")
_LEFT = np.array([_SIGNALS.index(a) for a, _ in _INTERACTIONS], dtype=np.intp)
_RIGHT = np.array([_SIGNALS.index(b) for _, b in _INTERACTIONS], dtype=np.intp)
_CATEGORY_AT = {c: i for i, c in enumerate(CATEGORIES)}
_BORDER = CATEGORIES.index("border")


@dataclass
class Analysis:
    """What the domain analysis found in one text: the lexicon and geography values in column order (`row`), and
    the signals (`flags`) whose pairs make the interaction columns after them."""

    row: list[float]
    flags: list[bool]
    places: list[Place]
    pairs: list[tuple[str, str]]
    hits: list[LexiconHit] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        """The feature values by name."""
        crossed = [float(self.flags[a] and self.flags[b]) for a, b in zip(_LEFT, _RIGHT, strict=True)]
        return dict(zip(NAMES, self.row + crossed, strict=True))

    @property
    def terms(self) -> dict[str, list[str]]:
        """Each category's distinct terms found, in order of first mention."""
        terms: dict[str, list[str]] = {c: [] for c in CATEGORIES}
        for h in self.hits:
            if h.term not in terms[h.category]:
                terms[h.category].append(h.term)
        return terms


class DomainFeatures:
    """Turns texts into a small dense block of named domain features."""

    def __init__(self, gazetteer: Gazetteer | None = None, lexicon: Lexicon | None = None) -> None:
        self.gazetteer = gazetteer or Gazetteer()
        self.lexicon = lexicon or Lexicon()
        self.names = list(NAMES)
        self._index = {n: i for i, n in enumerate(self.names)}

    def analyze(self, text: str) -> Analysis:
        # Built as lists in column order: a text is analysed in a few microseconds more than it takes to search it.
        hits = self.lexicon.hits(text)
        counts = [0] * len(CATEGORIES)
        for h in hits:
            counts[_CATEGORY_AT[h.category]] += 1
        places = self.gazetteer.find(text)
        codes = {p.code for p in places}
        pairs = self.gazetteer.neighbour_pairs(codes)
        hotspot = any(p.kind == "region" for p in places)
        # One country and no border, crossing or neighbour word: fighting there is most likely inside that country.
        inland = len(codes) == 1 and not counts[_BORDER] and not hotspot
        flags = [n > 0 for n in counts]
        flags += (bool(pairs), len(codes) >= 2, bool(codes), hotspot, inland)
        row = [math.log1p(n) if n else 0.0 for n in counts]
        row += (float(bool(codes)), float(len(codes) >= 2), float(bool(pairs)), float(hotspot), float(not codes),
                float(inland))  # fmt: skip
        return Analysis(row, flags, places, pairs, hits)

    def transform(self, texts: list[str]) -> tuple[np.ndarray, list[Analysis]]:
        if tuple(self.names) != NAMES:
            raise ValueError("the model's domain features are not the ones this code computes (run `newsmon train`)")
        analyses = [self.analyze(t) for t in texts]
        n = len(texts)
        base = np.array([a.row for a in analyses], dtype=np.float32).reshape(n, len(CATEGORIES) + len(_GEO))
        flags = np.array([a.flags for a in analyses], dtype=bool).reshape(n, len(_SIGNALS))
        # Every interaction of the batch at once: both of its signals present.
        return np.hstack([base, (flags[:, _LEFT] & flags[:, _RIGHT]).astype(np.float32)]), analyses
