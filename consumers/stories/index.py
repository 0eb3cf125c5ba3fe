"""Banded locality-sensitive hashing over MinHash signatures: the open stories with a member of similar text."""

from __future__ import annotations

from functools import lru_cache
from typing import TypeAlias

import numpy as np
from datasketch import MinHashLSH


@lru_cache(maxsize=8)
def bands(threshold: float, num_perm: int) -> tuple[tuple[int, int], ...]:
    """The slices of a signature hashed together: datasketch's choice weighing false positives against misses."""
    return tuple((int(s), int(e)) for s, e in MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges)


# A bucket: the one story id most bands hold, or the set of them once a second story shares the band. A plain id
# is not a container the garbage collector tracks, and single-story buckets are nearly all of them: as one-element
# sets they were most of the stage's heap and made each full collection scan them all.
Bucket: TypeAlias = str | set[str]


class BandIndex:
    """Story ids by the bands of their members' signatures: the candidates `MinHashLSH.query` would return.

    Kept by hand because datasketch's index byte-swaps every band through a storage layer and costed a quarter of
    clustering time; a band's values as bytes are an equally good bucket key.
    """

    def __init__(self, threshold: float, num_perm: int) -> None:
        self._ranges = bands(threshold, num_perm)
        self._buckets: list[dict[bytes, Bucket]] = [{} for _ in self._ranges]

    def _keys(self, sig: np.ndarray) -> list[bytes]:
        raw = sig.astype("<u4", copy=False).tobytes()
        return [raw[4 * s : 4 * e] for s, e in self._ranges]

    def query(self, sig: np.ndarray) -> set[str]:
        """The stories with a member sharing at least one band with `sig`."""
        found: set[str] = set()
        for buckets, key in zip(self._buckets, self._keys(sig), strict=True):
            ids = buckets.get(key)
            if ids is None:
                continue
            if isinstance(ids, str):
                found.add(ids)
            else:
                found |= ids
        return found

    def insert(self, story_id: str, sig: np.ndarray) -> None:
        for buckets, key in zip(self._buckets, self._keys(sig), strict=True):
            ids = buckets.get(key)
            if ids is None:
                buckets[key] = story_id
            elif isinstance(ids, str):
                if ids != story_id:
                    buckets[key] = {ids, story_id}
            else:
                ids.add(story_id)

    def remove(self, story_id: str, sig: np.ndarray) -> None:
        """Forget one of the story's signatures (all of them, when the story's others share its bands)."""
        for buckets, key in zip(self._buckets, self._keys(sig), strict=True):
            ids = buckets.get(key)
            if ids is None:
                continue
            if isinstance(ids, str):
                if ids == story_id:
                    del buckets[key]
                continue
            ids.discard(story_id)
            if len(ids) == 1:
                buckets[key] = ids.pop()
