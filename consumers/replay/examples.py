"""A bounded, deterministic pick of examples: the first few by a sort key, whatever order they arrive in."""

from __future__ import annotations

from typing import Any


class Examples:
    """Keeps the `limit` smallest entries by key; memory stays bounded however many are offered."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._kept: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def offer(self, key: tuple[Any, ...], entry: dict[str, Any]) -> None:
        self._kept.append((key, entry))
        if len(self._kept) > 4 * self._limit:
            self._trim()

    def _trim(self) -> None:
        self._kept.sort(key=lambda kv: kv[0])
        del self._kept[self._limit :]

    def as_list(self) -> list[dict[str, Any]]:
        self._trim()
        return [entry for _, entry in self._kept]
