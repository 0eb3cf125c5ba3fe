"""Per-host poll slots, so that polls waiting for a slow host hold none of the pollers' global slots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from monitor.ingest.feeds import FeedConfig
from monitor.messages import FeedState


class _Host:
    __slots__ = ("sem", "users")

    def __init__(self, per_host: int) -> None:
        self.sem = asyncio.Semaphore(per_host)
        self.users = 0  # polls holding or waiting for a slot


class HostSlots:
    """At most `per_host` polls of one host at a time; a host has an entry only while polls hold or want one.

    Entries are dropped when idle, so 100,000 feeds cost memory only for the hosts being polled right now.
    """

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._hosts: dict[str, _Host] = {}

    def __len__(self) -> int:
        return len(self._hosts)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's slots for the duration of the block."""
        entry = self._hosts.get(host)
        if entry is None:
            entry = self._hosts[host] = _Host(self._per_host)
        entry.users += 1
        try:
            async with entry.sem:
                yield
        finally:
            entry.users -= 1
            if not entry.users:
                del self._hosts[host]


def fetch_host(feed: FeedConfig, state: FeedState | None) -> str:
    """The host the feed's next poll goes to: its permanent redirect's, unless the configured URL changed since."""
    moved = state is not None and state.url == feed.url and state.effective_url
    url = state.effective_url if moved and state is not None else feed.url
    return (urlsplit(url).hostname or "").lower()
