"""The stories on the stories topic, and which of them are still open, for the command line."""

from __future__ import annotations

from datetime import timedelta

import structlog

from monitor.messages import DecodeError, Story, decode
from monitor.settings import Settings
from monitor.stream.table import read_table

log = structlog.get_logger(__name__)


async def read_stories(settings: Settings, timeout_s: float = 60.0) -> list[Story]:
    """The latest record of every story, most recently active first; unreadable records are logged and skipped."""
    latest = await read_table(settings.kafka, settings.topics.stories, timeout_s=timeout_s)
    out = []
    for key, value in latest.items():
        if value is None:
            continue
        try:
            out.append(decode(Story, value))
        except DecodeError as exc:
            log.warning("stories.undecodable", key=key.decode(errors="replace"), error=str(exc))
    return sorted(out, key=lambda s: s.last_seen, reverse=True)


def still_open(stories: list[Story], window_h: float) -> list[Story]:
    """Stories with a member within the window before the newest member of any (publication time, as the stage)."""
    if not stories:
        return []
    cutoff = max(s.last_seen for s in stories) - timedelta(hours=window_h)
    return [s for s in stories if s.last_seen >= cutoff]
