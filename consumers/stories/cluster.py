"""The open stories of a sliding window and the assignment of each new item to one of them, or to a new one."""

from __future__ import annotations

import hashlib
import heapq
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from consumers.stories.columns import Columns
from consumers.stories.decide import Evidence, micros, overlap, rank, rule, unambiguous
from consumers.stories.facts import Facts
from consumers.stories.index import BandIndex
from consumers.stories.params import Params
from consumers.stories.text import signature


def story_id_for(first_item_id: str) -> str:
    """A story's id, fixed by its first item: the same stream gives the same ids on every run."""
    return "s" + hashlib.sha256(f"story:{first_item_id}".encode()).hexdigest()[:23]


@dataclass
class Cluster:
    """What deciding needs of one open story."""

    story_id: str
    first: datetime
    last: datetime
    countries: set[str]
    spots: set[str]
    labels: frozenset[str]
    row: int  # the story's row in the clusterer's columns: its span, labels and indexed signatures


@dataclass(frozen=True, slots=True)
class Assignment:
    """The story an item went to, and why: `new`, a rule of `decide.RULES`, or `known` (seen before)."""

    story_id: str
    reason: str
    similarity: float = 0.0
    signature: np.ndarray | None = None
    slot: int | None = None  # the signature's place among the story's indexed ones; None when not indexed

    @property
    def created(self) -> bool:
        return self.reason == "new"


class Clusterer:
    """Assigns items to stories over a sliding window of event time; stories idle for a whole window are closed."""

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or Params()
        self._lsh = BandIndex(self.params.lsh_threshold, self.params.num_perm)
        self._cols = Columns(self.params.indexed_members, self.params.num_perm)
        self._label_bits: dict[str, int] = {}
        self._stories: dict[str, Cluster] = {}
        self._story_of: dict[str, str] = {}  # item id -> story id, for every member of an open story
        self._by_spot: dict[str, set[str]] = {}
        # Country code -> the open stories naming it, the most recently active last.
        self._by_country: dict[str, dict[str, None]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        # Members by event time: an item is forgotten once it is older than the window, even in a story still open.
        self._members: list[tuple[datetime, str, str]] = []
        self._closed: list[str] = []
        self._now: datetime | None = None
        # No rule joins a story further away in time than this, so such candidates are not weighed at all.
        p = self.params
        self._reach = max(p.copy_gap_h, p.similar_gap_h, p.related_gap_h, p.place_gap_h, p.country_gap_h)

    def __len__(self) -> int:
        return len(self._stories)

    @property
    def items(self) -> int:
        return len(self._story_of)

    def story_of(self, item_id: str) -> str | None:
        return self._story_of.get(item_id)

    def take_closed(self) -> list[str]:
        """The stories closed since the last call, so their keeper can let go of their records too."""
        closed, self._closed = self._closed, []
        return closed

    def assign(self, facts: Facts, sig: np.ndarray | None = None) -> Assignment:
        """Put the item in the best story it joins, or open a new story for it; `sig` is its text's signature when
        computed already."""
        known = self._story_of.get(facts.item_id)
        if known is not None:
            return Assignment(known, "known")
        self._advance(facts.published)
        if sig is None:
            sig = signature(facts.text, self.params.num_perm)
        best = self._best(facts, sig)
        if best is None:
            sid = story_id_for(facts.item_id)
            self._open(sid, facts.published, facts.countries, facts.spots, facts.labels)
            slot = self._add(self._stories[sid], facts, sig)
            return Assignment(sid, "new", 1.0, sig, slot)
        reason, e, cluster = best
        slot = self._add(cluster, facts, sig)
        return Assignment(cluster.story_id, reason, e.similarity, sig, slot)

    def restore(
        self, story_id: str, first: datetime, last: datetime, items: list[str], signatures: list[np.ndarray],
        countries: set[str], spots: set[str], labels: frozenset[str],
    ) -> None:  # fmt: skip
        """Reopen a story kept elsewhere (the stories topic) as it was, so a restart does not split it."""
        self._open(story_id, first, countries, spots, labels)
        cluster = self._stories[story_id]
        for item_id in items:
            self._remember(item_id, story_id, last)  # the record keeps no member times: kept as long as the story
        for sig in signatures[: self.params.indexed_members]:
            self._index(cluster, sig.astype(np.uint32))
        self._touch(cluster, last)
        self._advance(last)

    # -- deciding -------------------------------------------------------------------------------------------------
    def _best(self, facts: Facts, sig: np.ndarray) -> tuple[str, Evidence, Cluster] | None:
        found = {c.story_id: v for c, v in self._joinable(facts, sig)}
        kept = {sid: v for sid, v in found.items() if v in unambiguous(list(found.values()))}
        if not kept:
            return None
        sid = min(kept, key=lambda s: (rank(*kept[s]), self._stories[s].first))
        reason, e = kept[sid]
        return reason, e, self._stories[sid]

    def _joinable(self, facts: Facts, sig: np.ndarray) -> list[tuple[Cluster, tuple[str, Evidence]]]:
        """The candidate stories a rule lets the item join, each with the rule and its evidence."""
        cands, spotted = self._candidates(facts, sig)
        if not cands:
            return []
        rows = np.fromiter((c.row for c in cands), dtype=np.intp, count=len(cands))
        gaps = self._cols.gaps(rows, micros(facts.published))
        near = np.flatnonzero(gaps <= self._reach)
        sims = self._cols.similarities(rows[near], sig)
        p, near_gaps = self.params, gaps[near]
        # A cheap first look over all of them: only text, a shared place or a shared label can join; most have none.
        shares_label = (self._cols.labels[rows[near]] & self._bits(facts.labels)) != 0
        may = (sims >= p.related_similarity) | (near < spotted) | (shares_label & (near_gaps <= p.country_gap_h))
        out = []
        for n, sim, gap in zip(near[may].tolist(), sims[may].tolist(), near_gaps[may].tolist(), strict=True):
            e = self._evidence(facts, sim, gap, cands[n])
            reason = rule(e, p)
            if reason is not None:
                out.append((cands[n], (reason, e)))
        return out

    def _candidates(self, facts: Facts, sig: np.ndarray) -> tuple[list[Cluster], int]:
        """The stories sharing a place with the item (first, with their count), its text's band or a country."""
        spotted: set[str] = set()
        for spot in facts.spots:
            spotted |= self._by_spot.get(spot, set())
        ids = self._lsh.query(sig)
        for code in facts.countries:
            recent = self._by_country.get(code, {})
            ids.update(itertools.islice(reversed(recent), self.params.per_country_candidates))
        stories = self._stories
        first = [stories[i] for i in spotted if i in stories]
        return first + [stories[i] for i in ids - spotted if i in stories], len(first)

    def _evidence(self, facts: Facts, sim: float, gap: float, c: Cluster) -> Evidence:
        both_located = bool(facts.countries) and bool(c.countries)
        return Evidence(
            similarity=sim,
            gap_h=gap,
            shared_spots=len(facts.spots & c.spots),
            country_overlap=overlap(facts.countries, c.countries),
            countries_disjoint=both_located and not facts.countries & c.countries,
            shares_country=bool(facts.countries & c.countries),
            labels_agree=bool(facts.labels & c.labels) or not facts.labels or not c.labels,
            shares_label=bool(facts.labels & c.labels),
        )

    # -- keeping --------------------------------------------------------------------------------------------------
    def _open(
        self, sid: str, at: datetime, countries: frozenset[str] | set[str], spots: frozenset[str] | set[str],
        labels: frozenset[str],
    ) -> None:  # fmt: skip
        us = micros(at)
        row = self._cols.take(us, us, self._bits(labels))
        self._stories[sid] = Cluster(sid, at, at, set(countries), set(spots), frozenset(labels), row)
        for spot in spots:
            self._by_spot.setdefault(spot, set()).add(sid)

    def _add(self, c: Cluster, facts: Facts, sig: np.ndarray) -> int | None:
        """Add a member; return its signature's slot when it is indexed."""
        self._remember(facts.item_id, c.story_id, facts.published)
        indexed = int(self._cols.filled[c.row])
        slot = indexed if indexed < self.params.indexed_members else None
        if slot is not None:
            self._index(c, sig)
        # The places of a story grow with its members, so a later report naming the village still finds it.
        for spot in facts.spots - c.spots:
            c.spots.add(spot)
            self._by_spot.setdefault(spot, set()).add(c.story_id)
        c.countries |= facts.countries
        if not facts.labels <= c.labels:
            c.labels |= facts.labels
            self._cols.labels[c.row] = self._bits(c.labels)
        if facts.published < c.first:
            c.first = facts.published
            self._cols.first[c.row] = micros(facts.published)
        self._touch(c, facts.published)
        return slot

    def _index(self, c: Cluster, sig: np.ndarray) -> None:
        self._lsh.insert(c.story_id, sig)
        self._cols.add_signature(c.row, sig)

    def _bits(self, labels: frozenset[str]) -> int:
        """The labels as bits of an integer, each label's bit given when first seen."""
        bits = 0
        for label in labels:
            bit = self._label_bits.get(label)
            if bit is None:
                if len(self._label_bits) == 62:
                    raise ValueError("story clustering tells at most 62 labels apart")
                bit = self._label_bits[label] = 1 << len(self._label_bits)
            bits |= bit
        return bits

    def _remember(self, item_id: str, sid: str, at: datetime) -> None:
        self._story_of[item_id] = sid
        heapq.heappush(self._members, (at, item_id, sid))

    def _touch(self, c: Cluster, at: datetime) -> None:
        for code in c.countries:
            recent = self._by_country.setdefault(code, {})
            recent.pop(c.story_id, None)
            recent[c.story_id] = None
        if at >= c.last:
            c.last = at
            self._cols.last[c.row] = micros(at)
            heapq.heappush(self._expiry, (at, c.story_id))

    def _advance(self, at: datetime) -> None:
        """Move event time forward to `at` and close the stories idle for a whole window before it."""
        if self._now is not None and at <= self._now:
            return
        self._now = at
        cutoff = at - timedelta(hours=self.params.window_h)
        while self._expiry and self._expiry[0][0] < cutoff:
            last, sid = heapq.heappop(self._expiry)
            c = self._stories.get(sid)
            if c is not None and c.last == last:
                self._close(c)
        while self._members and self._members[0][0] < cutoff:
            _, item_id, sid = heapq.heappop(self._members)
            if self._story_of.get(item_id) == sid:
                del self._story_of[item_id]

    def _close(self, c: Cluster) -> None:
        """Forget a story idle for a whole window; its members, all older than the window, go with the member heap."""
        del self._stories[c.story_id]
        self._closed.append(c.story_id)
        for sig in self._cols.signatures(c.row):
            self._lsh.remove(c.story_id, sig)
        self._cols.release(c.row)
        for spot in c.spots:
            _discard(self._by_spot, spot, c.story_id)
        for code in c.countries:
            recent = self._by_country.get(code, {})
            recent.pop(c.story_id, None)
            if not recent:
                self._by_country.pop(code, None)


def _discard(index: dict[str, set[str]], key: str, sid: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(sid)
        if not ids:
            del index[key]
