"""What deciding weighs of every open story, in arrays by the story's row: an item is weighed against all its
candidate stories in a few array operations instead of one candidate at a time."""

from __future__ import annotations

import numpy as np

# Rows the arrays start with; they double when full, and a closed story's row is taken again.
_START = 1024


# Adds up the eight bytes of a 64-bit word into its top byte.
_BYTE_SUM = np.uint64(0x0101010101010101)


def _count_true(flags: np.ndarray) -> np.ndarray:
    """The true values along the last axis of a boolean array whose last axis is a multiple of 8 long.

    Read eight flags (bytes of 0 or 1) per 64-bit word and add the words' bytes by one multiplication: several times
    cheaper than `sum`, which widens every flag to 64 bits first. No byte sum passes 255 below 256 flags.
    """
    words = flags.view(np.uint64).sum(axis=-1, dtype=np.uint64)
    return ((words * _BYTE_SUM) >> np.uint64(56)).astype(np.int64)


class Columns:
    """Each open story's time span (microseconds), label bits and indexed signatures, by row."""

    def __init__(self, members: int, num_perm: int) -> None:
        self._members, self._num_perm = members, num_perm
        self._free: list[int] = []
        self._used = 0
        self.first = np.zeros(_START, dtype=np.int64)
        self.last = np.zeros(_START, dtype=np.int64)
        self.labels = np.zeros(_START, dtype=np.int64)
        self.filled = np.zeros(_START, dtype=np.int64)
        self.sigs = np.zeros((_START, members, num_perm), dtype=np.uint32)

    def take(self, first_us: int, last_us: int, label_bits: int) -> int:
        """A row for a newly opened story."""
        if self._free:
            row = self._free.pop()
        else:
            if self._used == len(self.first):
                self._grow()
            row, self._used = self._used, self._used + 1
        self.first[row], self.last[row], self.labels[row], self.filled[row] = first_us, last_us, label_bits, 0
        return row

    def release(self, row: int) -> None:
        self._free.append(row)

    def add_signature(self, row: int, sig: np.ndarray) -> None:
        n = int(self.filled[row])
        self.sigs[row, n] = sig
        self.filled[row] = n + 1

    def signatures(self, row: int) -> np.ndarray:
        return self.sigs[row, : int(self.filled[row])]

    def gaps(self, rows: np.ndarray, t_us: int) -> np.ndarray:
        """Hours from `t_us` to each story's span (0 inside it), bit for bit what `decide.gap_hours_us` gives."""
        # Exactly one side is positive outside the span; integers below 2**53 convert to floats exactly.
        gap_us = np.maximum(self.first[rows] - t_us, 0) + np.maximum(t_us - self.last[rows], 0)
        return gap_us / 1_000_000 / 3600

    def similarities(self, rows: np.ndarray, sig: np.ndarray) -> np.ndarray:
        """Each story's highest estimated Jaccard similarity of a member's signature with `sig` (0 with none)."""
        equal = _count_true(self.sigs[rows] == sig)
        equal[np.arange(self._members) >= self.filled[rows][:, None]] = 0
        result: np.ndarray = equal.max(axis=1) / self._num_perm
        return result

    def _grow(self) -> None:
        size = 2 * len(self.first)
        for name in ("first", "last", "labels", "filled"):
            setattr(self, name, np.resize(getattr(self, name), size))
        grown = np.zeros((size, self._members, self._num_perm), dtype=np.uint32)
        grown[: len(self.sigs)] = self.sigs
        self.sigs = grown
