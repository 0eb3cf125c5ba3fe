"""The stories on the stories topic, and which of them are still open, for the command line."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from monitor.messages import Story, decode
from monitor.settings import Settings
from monitor.stream.table import read_latest


async def read_stories(settings: Settings, timeout_s: float = 60.0) -> list[Story]:
    """The latest record of every story, most recently active first; unreadable records are logged and skipped."""
    latest = await read_latest(settings.kafka, settings.topics.stories, partial(decode, Story), timeout_s)
    return sorted(latest.values(), key=lambda s: s.last_seen, reverse=True)


def still_open(stories: list[Story], window_h: float) -> list[Story]:
    """Stories with a member within the window before the newest member of any (publication time, as the stage)."""
    if not stories:
        return []
    cutoff = max(s.last_seen for s in stories) - timedelta(hours=window_h)
    return [s for s in stories if s.last_seen >= cutoff]
