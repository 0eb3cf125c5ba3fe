"""Domain features: lexicon counts, countries and neighbour pairs, and their interactions, with readable names."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np

from classifiers.gazetteer import Gazetteer
from classifiers.lexicon import CATEGORIES, Lexicon
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


@dataclass
class Analysis:
    """What the domain analysis found in one text; `values` are the named feature values."""

    values: dict[str, float]
    places: list[Place]
    pairs: list[tuple[str, str]]
    terms: dict[str, list[str]] = field(default_factory=dict)


class DomainFeatures:
    """Turns texts into a small dense block of named domain features."""

    def __init__(self, gazetteer: Gazetteer | None = None, lexicon: Lexicon | None = None) -> None:
        self.gazetteer = gazetteer or Gazetteer()
        self.lexicon = lexicon or Lexicon()
        base = [f"lex:{c}" for c in CATEGORIES]
        geo = ["geo:country", "geo:two_countries", "geo:neighbours", "geo:hotspot", "geo:no_place", "geo:inland"]
        self.names = base + geo + [f"x:{a}*{b}" for a, b in _INTERACTIONS]
        self._index = {n: i for i, n in enumerate(self.names)}

    def analyze(self, text: str) -> Analysis:
        hits = self.lexicon.hits(text)
        counts = dict.fromkeys(CATEGORIES, 0)
        terms: dict[str, list[str]] = {c: [] for c in CATEGORIES}
        for h in hits:
            counts[h.category] += 1
            if h.term not in terms[h.category]:
                terms[h.category].append(h.term)
        places = self.gazetteer.find(text)
        codes = {p.code for p in places}
        pairs = self.gazetteer.neighbour_pairs(codes)
        present = {c: counts[c] > 0 for c in CATEGORIES}
        present["neighbours"] = bool(pairs)
        present["two_countries"] = len(codes) >= 2
        present["country"] = bool(codes)
        present["hotspot"] = any(p.kind == "region" for p in places)
        # One country and no border, crossing or neighbour word: fighting there is most likely inside that country.
        present["inland"] = len(codes) == 1 and not present["border"] and not present["hotspot"]
        values: dict[str, float] = {f"lex:{c}": math.log1p(counts[c]) for c in CATEGORIES}
        values["geo:country"] = float(bool(codes))
        values["geo:two_countries"] = float(present["two_countries"])
        values["geo:neighbours"] = float(bool(pairs))
        values["geo:hotspot"] = float(present["hotspot"])
        values["geo:no_place"] = float(not codes)
        values["geo:inland"] = float(present["inland"])
        for a, b in _INTERACTIONS:
            values[f"x:{a}*{b}"] = float(present[a] and present[b])
        return Analysis(values=values, places=places, pairs=pairs, terms=terms)

    def transform(self, texts: list[str]) -> tuple[np.ndarray, list[Analysis]]:
        analyses = [self.analyze(t) for t in texts]
        # One C call per row; every name has a value (an analysis missing one is a bug and raises KeyError).
        row = itemgetter(*self.names)
        data = np.array([row(a.values) for a in analyses], dtype=np.float32).reshape(len(texts), len(self.names))
        return data, analyses
