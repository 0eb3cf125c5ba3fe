"""Hashed text features: word 1-2-grams and per-word character 3-5-grams, counted into fixed columns.

Scripts written without spaces (Chinese, Japanese, Thai, …) have no words to split on: each run of them gives its
character bigrams as "words" (so word pairs are character trigrams) and its single characters as character grams.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import mmh3
import numpy as np

from classifiers.scripts import MARKS, OPTIONAL_MARKS, UNSPACED

WORD_FEATURES = 2**18
CHAR_FEATURES = 2**19
N_FEATURES = WORD_FEATURES + CHAR_FEATURES
_TOKEN = re.compile(r"(?u)\b\w[\w'’-]*\b")
# Text with combining marks or unspaced scripts is rare in most feeds; only it pays for the finer segmentation.
_SPECIAL = re.compile(f"[{UNSPACED}{MARKS}]")
_LETTER = f"[^\\W{UNSPACED}][{MARKS}]*"
# A run of an unspaced script, or a word as _TOKEN finds it, with its combining marks kept.
_PIECE = re.compile(f"([{UNSPACED}]+)|((?:{_LETTER})+(?:['’-]+(?:{_LETTER})+)*)")
_IS_UNSPACED = re.compile(f"[{UNSPACED}]")
_OPTIONAL_MARKS = re.compile(f"[{OPTIONAL_MARKS}]")
_CHAR_SIZES = (3, 4, 5)
# Bits of the signed 64-bit integers that `_counted` packs a (row, column) key and a position into.
_PACKED_BITS = 63
# Grams of each kind whose hashed columns are remembered.
_CACHE_WORDS = 60_000


_hash = mmh3.hash


def word_column(gram: str) -> int:
    """The column of a word n-gram: murmurhash3 (seed 0) of its UTF-8 bytes, sign dropped."""
    return abs(_hash(gram)) % WORD_FEATURES


def _char_columns(token: str) -> tuple[int, ...]:
    if _IS_UNSPACED.match(token):
        return ()  # a character bigram of an unspaced run: its characters are counted once per run instead
    padded = f" {token} "
    size = len(padded)
    grams = [padded[i : i + n] for n in _CHAR_SIZES for i in range(max(1, size - n + 1))]
    return tuple(WORD_FEATURES + abs(mmh3.hash(g)) % CHAR_FEATURES for g in grams)


@dataclass
class Counts:
    """Raw n-gram counts of a batch in CSR form: row i owns `indices[indptr[i]:indptr[i+1]]`."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1


class _GramColumns(dict[str, bytes]):
    """Columns of recently seen grams, packed as int32 bytes; a miss hashes the gram and remembers it.

    News vocabulary is Zipfian, so a modest cache covers most grams and is cheap to rebuild when it is cleared.
    """

    def __init__(self, columns: Callable[[str], tuple[int, ...]]) -> None:
        super().__init__()
        self._hash = columns

    def __missing__(self, gram: str) -> bytes:
        if len(self) >= _CACHE_WORDS:
            self.clear()
        cols = self[gram] = array("i", self._hash(gram)).tobytes()
        return cols


def _word_and_char_columns(token: str) -> tuple[int, ...]:
    return (word_column(token), *_char_columns(token))


def _pair_columns(toks: list[str]) -> bytes:
    """Columns of the word pairs, packed as int32 bytes.

    Pairs are hashed afresh: most are rare, so a cache of them would mostly miss and be cleared.
    """
    return array("i", [abs(_hash(pair)) % WORD_FEATURES for pair in map(" ".join, pairwise(toks))]).tobytes()


def _unspaced_char_column(ch: str) -> tuple[int, ...]:
    return (WORD_FEATURES + abs(mmh3.hash(ch)) % CHAR_FEATURES,)


def _counted(cols: np.ndarray, lengths: np.ndarray) -> Counts:
    """Count each row's columns, keeping them in order of first occurrence in the row (as training saw them)."""
    n_rows = len(lengths)
    shift = max(len(cols).bit_length(), 1)
    if (n_rows * N_FEATURES).bit_length() + shift > _PACKED_BITS and n_rows > 1:
        half = n_rows // 2
        cut = int(lengths[:half].sum())
        return _joined(_counted(cols[:cut], lengths[:half]), _counted(cols[cut:], lengths[half:]))
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    # Each (row, column) key sits above its position in one integer: a sort of values (several times faster than
    # sorting positions by key) groups equal keys with the first occurrence of each leading its group.
    packed = np.sort(((rows * N_FEATURES + cols) << shift) | np.arange(len(cols)))
    keys = packed >> shift
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else keys
    # Each key's count lands on its first position; reading those in position order needs no second sort.
    count_at = np.zeros(len(cols), dtype=np.int64)
    count_at[packed[starts] & ((1 << shift) - 1)] = np.diff(starts, append=len(keys))
    first = np.flatnonzero(count_at)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[first], minlength=n_rows), out=indptr[1:])
    return Counts(indptr, cols[first].astype(np.int32), count_at[first].astype(np.float32))


def _joined(a: Counts, b: Counts) -> Counts:
    """The rows of `a` followed by the rows of `b`."""
    indptr = np.concatenate([a.indptr, b.indptr[1:] + a.indptr[-1]])
    return Counts(indptr, np.concatenate([a.indices, b.indices]), np.concatenate([a.data, b.data]))


class HashedNgrams:
    """Counts hashed n-grams of texts; the same function serves training and scoring, so they cannot drift."""

    def __init__(self) -> None:
        # Packed int32 bytes: joining them is one C call per text, and they cost a fraction of a tuple of ints.
        self._words = _GramColumns(_word_and_char_columns)
        self._chars = _GramColumns(_unspaced_char_column)

    def tokens(self, text: str) -> list[str]:
        """Words in order; a run of an unspaced script gives its overlapping character bigrams instead."""
        return self.segment(text)[0]

    def segment(self, text: str) -> tuple[list[str], str]:
        """The tokens of a text and the characters of its unspaced runs (empty when it has none)."""
        lowered = text.lower()
        # isascii() reads a flag of the string: most English copy skips the search.
        if lowered.isascii() or _SPECIAL.search(lowered) is None:
            return _TOKEN.findall(lowered), ""
        toks: list[str] = []
        runs: list[str] = []
        for run, word in _PIECE.findall(_OPTIONAL_MARKS.sub("", lowered)):
            if word:
                toks.append(word)
            else:
                toks.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
                runs.append(run)
        return toks, "".join(runs)

    def transform(self, texts: list[str]) -> Counts:
        rows: list[bytes] = []
        words, chars = self._words.__getitem__, self._chars.__getitem__
        for text in texts:
            toks, unspaced = self.segment(text)
            rows.append(b"".join([*map(words, toks), _pair_columns(toks), *map(chars, unspaced)]))
        lengths = np.fromiter((len(r) // 4 for r in rows), dtype=np.int64, count=len(rows))
        return _counted(np.frombuffer(b"".join(rows), dtype=np.int32), lengths)

    def word_names(self, text: str) -> dict[int, str]:
        """Names for the word columns a text uses (hashed columns have no names of their own)."""
        toks = self.tokens(text)
        names: dict[int, str] = {}
        for gram in [*toks, *(f"{a} {b}" for a, b in pairwise(toks))]:
            names.setdefault(word_column(gram), f"term:{gram}")
        return names
