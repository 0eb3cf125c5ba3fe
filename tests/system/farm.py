"""A local feed farm that publishes numbered stories and keeps the ledger of what it published and when."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.support.feeds import FeedServer, rss

# Stories whose title carries this word alert (the rules' keyword); the others must not.
MARK = "sysmark"
# A feed lists only its newest stories, as real feeds do; older ones drop off.
LISTED = 40


@dataclass(frozen=True)
class Story:
    title: str
    alerts: bool
    at: float  # monotonic time it was first served


@dataclass
class Farm:
    """Feeds /fN.xml on a FeedServer; `publish` adds stories round-robin across the first `active` feeds."""

    server: FeedServer
    active: int
    listed: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    stories: list[Story] = field(default_factory=list)
    _next_feed: int = 0

    def feed_urls(self, n: int, start: int = 0) -> list[str]:
        """URLs of feeds start..start+n, created empty if new."""
        return [self._ensure(f"/f{i}.xml") for i in range(start, start + n)]

    def _ensure(self, path: str) -> str:
        if path not in self.listed:
            self.listed[path] = []
            self.server.set(path, rss([]))
        return self.server.url(path)

    def publish(self, n: int, alerting_every: int = 2) -> list[Story]:
        """Add `n` stories, every `alerting_every`-th of them alerting, spread over the active feeds."""
        out = []
        for _ in range(n):
            k = len(self.stories) + len(out)
            alerts = k % alerting_every == 0
            title = f"{MARK.capitalize()} border report {k}" if alerts else f"Council budget note {k}"
            path = f"/f{self._next_feed}.xml"
            self._next_feed = (self._next_feed + 1) % self.active
            self._add(path, (f"s{k}", title, f"Story {k} body."))
            out.append(Story(title, alerts, time.monotonic()))
        self.stories.extend(out)
        return out

    def fill(self, paths: list[str], per_feed: int, alerting_every: int) -> list[Story]:
        """Put `per_feed` new stories on each of `paths` at once (a burst)."""
        out = []
        for path in paths:
            for _ in range(per_feed):
                k = len(self.stories) + len(out)
                alerts = k % alerting_every == 0
                title = f"{MARK.capitalize()} burst report {k}" if alerts else f"Council burst note {k}"
                self.listed[path].append((f"s{k}", title, f"Story {k} body."))
                out.append(Story(title, alerts, time.monotonic()))
            self.server.set(path, rss(self.listed[path][-LISTED:]))
        self.stories.extend(out)
        return out

    def _add(self, path: str, story: tuple[str, str, str]) -> None:
        items = self.listed.setdefault(path, [])
        items.append(story)
        self.server.set(path, rss(items[-LISTED:]))


@contextlib.asynccontextmanager
async def ticking(farm: Farm, every_s: float = 0.2, per_tick: int = 2) -> AsyncIterator[list[Story]]:
    """Publish `per_tick` stories every `every_s` while the block runs: a stream the faults interrupt."""
    published: list[Story] = []

    async def tick() -> None:
        while True:
            published.extend(farm.publish(per_tick))
            await asyncio.sleep(every_s)

    task = asyncio.create_task(tick())
    try:
        yield published
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
