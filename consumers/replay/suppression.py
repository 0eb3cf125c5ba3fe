"""Suppression as the alert stage applies it (one alert per story and rule within the window), kept in memory.

Record timestamps stand in for the clock: a story's repeats sit in one partition (the item id is the key), so they
are seen in order whatever the interleaving of partitions, and the outcome is the same on every run.
"""

from __future__ import annotations


class SimulatedSuppression:
    """Event ids that alerted within the window, forgotten once no partition can still reach into their window."""

    def __init__(self, window_s: float) -> None:
        self._window = window_s
        self._first: dict[str, float] = {}

    def first(self, event_id: str, at: float) -> bool:
        """Whether the pair alerts at `at` (seconds): it has not alerted within the window before. Notes it if so."""
        before = self._first.get(event_id)
        if before is not None and at - before < self._window:
            return False
        # A match a whole window later is a new alert, whose own window counts from then (as live keeps it).
        self._first[event_id] = at
        return True

    def expire(self, oldest_clock: float) -> int:
        """Forget pairs whose window closed before `oldest_clock`, the slowest partition's record time."""
        cutoff = oldest_clock - self._window
        old = [k for k, at in self._first.items() if at < cutoff]
        for k in old:
            del self._first[k]
        return len(old)

    def __len__(self) -> int:
        return len(self._first)
