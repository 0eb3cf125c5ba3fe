"""Suppression as the alert stage applies it (one alert per story and rule within the window), kept in memory.

Record timestamps stand in for the clock: a story's repeats sit in one partition (the item id is the key), so they
are seen in order whatever the interleaving of partitions, and the outcome is the same on every run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.messages import AlertState


class SimulatedSuppression:
    """Event ids that alerted within the window, forgotten once no partition can still reach into their window."""

    def __init__(self, window_s: float) -> None:
        self._window = timedelta(seconds=window_s)
        self._states: dict[str, AlertState] = {}

    def suppressed(self, event_id: str, now: datetime | None = None) -> bool:
        st = self._states.get(event_id)
        return st is not None and now is not None and now - st.first_matched_at < self._window

    def note(self, state: AlertState) -> None:
        self._states[state.event_id] = state

    def expire(self, oldest_clock: datetime) -> int:
        """Forget pairs whose window closed before `oldest_clock`, the slowest partition's record time."""
        cutoff = oldest_clock - self._window
        old = [k for k, st in self._states.items() if st.first_matched_at < cutoff]
        for k in old:
            del self._states[k]
        return len(old)

    def __len__(self) -> int:
        return len(self._states)
