"""A bounded, deterministic pick of examples: the first few by a sort key, whatever order they arrive in."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any


class Examples:
    """Keeps the `limit` smallest entries by key; an entry is only built when it makes the cut."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._keys: list[tuple[Any, ...]] = []
        self._entries: list[dict[str, Any]] = []

    def offer(self, key: tuple[Any, ...], make: Callable[[], dict[str, Any]]) -> None:
        if len(self._keys) >= self._limit and (not self._limit or key >= self._keys[-1]):
            return
        at = bisect.bisect(self._keys, key)
        self._keys.insert(at, key)
        self._entries.insert(at, make())
        del self._keys[self._limit :], self._entries[self._limit :]

    def as_list(self) -> list[dict[str, Any]]:
        return list(self._entries)
