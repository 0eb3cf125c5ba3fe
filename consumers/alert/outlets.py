"""The outlets of each open story as the alert stage knows them: read from `news.stories` at start-up, then grown
by every item of `news.storied`, so corroboration counts survive a restart of the alert stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from aiokafka import ConsumerRecord

from consumers.stories.domains import registered_domain
from monitor.messages import ClassifiedItem, DecodeError, Story, decode, utcnow
from monitor.settings import KafkaSettings
from monitor.stream.reader import TopicReader

log = structlog.get_logger(__name__)

# Item ids remembered per story, so an item read again after a restart is not counted twice.
MAX_MEMBER_IDS = 5000


@dataclass
class StoryView:
    """One story's outlets (registered domain -> outlet name, first reporters first) and its members."""

    touched: datetime
    outlets: dict[str, str] = field(default_factory=dict)
    tiers: dict[str, str] = field(default_factory=dict)  # domain -> tier; "" when only the story's record named it
    member_ids: set[str] = field(default_factory=set)
    members: int = 0

    @property
    def count(self) -> int:
        return len(self.outlets)

    @property
    def unverified(self) -> bool:
        """Told by one outlet alone, and that outlet is an aggregator."""
        if len(self.outlets) != 1:
            return False
        (only,) = self.outlets
        return self.tiers.get(only) == "aggregator"

    def names(self, domains: list[str]) -> list[str]:
        return [self.outlets.get(d, d) for d in domains]


def _domain(c: ClassifiedItem) -> str:
    return registered_domain(c.item.url or c.item.feed_url)


class StoryBook:
    """Open stories by id; a story untouched for the window is forgotten, as the story stage closes it."""

    def __init__(self, window: timedelta) -> None:
        self._window = window
        self._stories: dict[str, StoryView] = {}

    def __len__(self) -> int:
        return len(self._stories)

    def get(self, story_id: str) -> StoryView | None:
        return self._stories.get(story_id)

    def add(self, c: ClassifiedItem) -> StoryView:
        """Count one storied item (an item seen before counts once); return its story."""
        v = self._stories.setdefault(c.story_id, StoryView(touched=utcnow()))
        v.touched = utcnow()
        domain = _domain(c)
        if domain and domain not in v.outlets:
            v.outlets[domain] = c.item.source or domain
        if domain and not v.tiers.get(domain):
            v.tiers[domain] = c.item.tier
        if c.item.id not in v.member_ids:
            v.members += 1
            if len(v.member_ids) < MAX_MEMBER_IDS:
                v.member_ids.add(c.item.id)
        return v

    def restore(self, story: Story) -> None:
        """Take a story's record (the story stage may be ahead of this stage: its members count at once)."""
        v = self._stories.setdefault(story.story_id, StoryView(touched=story.updated_at))
        for m in story.members:
            if m.domain:
                v.outlets.setdefault(m.domain, m.outlet or m.domain)
            if len(v.member_ids) < MAX_MEMBER_IDS:
                v.member_ids.add(m.item_id)
        for d in story.domains:
            v.outlets.setdefault(d, d)
        v.members = max(v.members, story.member_count)

    def expire(self, now: datetime | None = None) -> int:
        cutoff = (now or utcnow()) - self._window
        old = [sid for sid, v in self._stories.items() if v.touched < cutoff]
        for sid in old:
            del self._stories[sid]
        return len(old)

    async def load(self, kafka: KafkaSettings, topic: str) -> int:
        """Read the stories changed within the window from the compacted stories topic; return how many."""

        def apply(rec: ConsumerRecord[bytes, bytes]) -> None:
            if rec.value is None:
                return
            try:
                self.restore(decode(Story, rec.value))
            except DecodeError as exc:
                log.warning("alert.story_unreadable", offset=rec.offset, error=str(exc))  # the story stage's to fix

        reader = TopicReader(kafka, topic, apply)
        try:
            n = await reader.start(since=utcnow() - self._window)
        finally:
            await reader.stop()
        log.info("alert.stories_loaded", records=n, stories=len(self))
        return n
