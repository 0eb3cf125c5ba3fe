"""The open stories' columns weigh all candidates at once exactly as one candidate at a time did: the same gaps to the
last bit and the same similarities, through growth of the arrays and reuse of closed stories' rows."""

from __future__ import annotations

import numpy as np

from consumers.stories.columns import Columns
from consumers.stories.decide import gap_hours_us
from consumers.stories.text import similarity


def test_columns_give_the_gaps_and_similarities_one_story_at_a_time_gives() -> None:
    rng = np.random.default_rng(14)
    cols = Columns(members=8, num_perm=64)
    kept: dict[int, tuple[int, int, list[np.ndarray]]] = {}
    for n in range(3000):  # past the first 1024 rows, so the arrays grow
        first = int(rng.integers(0, 10**12))
        last = first + int(rng.integers(0, 10**11))
        row = cols.take(first, last, 0)
        # Values from a small range, so that a good share of positions are equal.
        sigs = [rng.integers(0, 4, size=64, dtype=np.uint32) for _ in range(int(rng.integers(0, 9)))]
        for sig in sigs:
            cols.add_signature(row, sig)
        kept[row] = (first, last, sigs)
        if n % 3 == 0:  # a story closes and its row is taken by the next
            gone = int(rng.choice(list(kept)))
            cols.release(gone)
            del kept[gone]
    rows = np.array(list(kept), dtype=np.intp)
    for _ in range(50):
        t = int(rng.integers(0, 10**12))
        sig = rng.integers(0, 4, size=64, dtype=np.uint32)
        pick = rng.choice(rows, size=40)
        expected_gaps = [gap_hours_us(t, kept[r][0], kept[r][1]) for r in pick.tolist()]
        assert cols.gaps(pick, t).tolist() == expected_gaps
        groups = [np.array(kept[r][2], dtype=np.uint32).reshape(-1, 64) for r in pick.tolist()]
        assert cols.similarities(pick, sig).tolist() == [similarity(sig, g) for g in groups]
