"""Banded locality-sensitive hashing over MinHash signatures: the open stories with a member of similar text."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import MinHashLSH


@lru_cache(maxsize=8)
def bands(threshold: float, num_perm: int) -> tuple[tuple[int, int], ...]:
    """The slices of a signature hashed together: datasketch's choice weighing false positives against misses."""
    return tuple((int(s), int(e)) for s, e in MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges)


class BandIndex:
    """Story ids by the bands of their members' signatures: the candidates `MinHashLSH.query` would return.

    Kept by hand because datasketch's index byte-swaps every band through a storage layer and costed a quarter of
    clustering time; a band's values as bytes are an equally good bucket key.
    """

    def __init__(self, threshold: float, num_perm: int) -> None:
        self._ranges = bands(threshold, num_perm)
        self._buckets: list[dict[bytes, set[str]]] = [{} for _ in self._ranges]

    def _keys(self, sig: np.ndarray) -> list[bytes]:
        raw = sig.astype("<u4", copy=False).tobytes()
        return [raw[4 * s : 4 * e] for s, e in self._ranges]

    def query(self, sig: np.ndarray) -> set[str]:
        """The stories with a member sharing at least one band with `sig`."""
        found: set[str] = set()
        for buckets, key in zip(self._buckets, self._keys(sig), strict=True):
            ids = buckets.get(key)
            if ids:
                found |= ids
        return found

    def insert(self, story_id: str, sig: np.ndarray) -> None:
        for buckets, key in zip(self._buckets, self._keys(sig), strict=True):
            ids = buckets.get(key)
            if ids is None:
                buckets[key] = {story_id}  # most bands are new: no empty set made and thrown away for the others
            else:
                ids.add(story_id)

    def remove(self, story_id: str, sig: np.ndarray) -> None:
        """Forget one of the story's signatures (all of them, when the story's others share its bands)."""
        for buckets, key in zip(self._buckets, self._keys(sig), strict=True):
            ids = buckets.get(key)
            if ids is not None:
                ids.discard(story_id)
                if not ids:
                    del buckets[key]
