"""Normalized text, its character shingles and their MinHash signature: the near-duplicate half of clustering."""

from __future__ import annotations

import base64
import re
import unicodedata
from functools import lru_cache

import numpy as np
from datasketch import MinHash

# 5-character shingles survive the edits wire rewrites make (datelines, tenses, a word swapped) and inflection.
SHINGLE = 5
# Signatures are kept in the stories topic, so the hashing scheme is fixed rather than left to a library default.
SCHEME = "affine32"
_NOT_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """Case-folded NFKC text with punctuation and runs of spaces turned into one space."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def shingles(text: str, size: int = SHINGLE) -> set[bytes]:
    """The distinct character shingles of the normalized text (the whole text when it is shorter)."""
    norm = normalize(text)
    if len(norm) <= size:
        return {norm.encode()} if norm else set()
    return {norm[i : i + size].encode() for i in range(len(norm) - size + 1)}


@lru_cache(maxsize=8)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    # Drawn once per size: datasketch would otherwise draw them anew for every signature.
    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME).permutations


def shingle_hashes(text: str, size: int = SHINGLE) -> np.ndarray:
    """32-bit hashes of the distinct character shingles of the normalized text, computed for all at once."""
    return np.unique(_shingle_values(text, size))


def _shingle_values(text: str, size: int) -> np.ndarray:
    """The 32-bit hash of every character shingle of the normalized text, repeats included.

    A polynomial over the code points of each shingle, mixed by a multiply-xorshift: hashing each shingle in Python
    would cost more than the rest of clustering together.
    """
    points = np.frombuffer(normalize(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(points) == 0:
        return np.empty(0, dtype=np.uint32)
    width = min(size, len(points))
    h = np.zeros(len(points) - width + 1, dtype=np.uint64)
    for j in range(width):
        h = h * np.uint64(1_000_003) + points[j : len(points) - width + 1 + j]
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h.astype(np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer, which datasketch's affine32 scheme applies to every input hash before permuting."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signature(text: str, num_perm: int) -> np.ndarray:
    """The MinHash signature of the text's shingles (`num_perm` values; equal values estimate Jaccard similarity).

    The values datasketch's MinHash (affine32 scheme) computes for the same hashes, in one array expression instead of
    a MinHash object per item: repeated shingles cannot change a minimum, so they are not removed first.
    """
    a, b = _permutations(num_perm)
    hashes = _shingle_values(text, SHINGLE)
    if len(hashes) == 0:
        return np.full(num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
    return (_fmix32(hashes)[:, None] * a + b).min(axis=0)


def similarity(sig: np.ndarray, known: np.ndarray) -> float:
    """The highest estimated Jaccard similarity between a signature and the rows of `known` (0 with none): the share
    of positions where they hold the same value."""
    if not len(known):
        return 0.0
    return float(np.count_nonzero(known == sig, axis=1).max() / len(sig))


def encode_signature(sig: np.ndarray) -> str:
    """A signature as text for the stories topic: base64 of its little-endian uint32 values."""
    return base64.b64encode(sig.astype("<u4").tobytes()).decode("ascii")


def decode_signature(text: str) -> np.ndarray:
    """A signature read back from `encode_signature`; ValueError for text that is not one."""
    raw = base64.b64decode(text, validate=True)
    if not raw or len(raw) % 4:
        raise ValueError("a signature is a non-empty run of 4-byte values")
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)
