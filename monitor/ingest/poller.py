"""One poll of one feed, end to end: fetch, parse, normalize, produce what is new, remember what was seen."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from aiokafka import AIOKafkaProducer

from monitor.ingest.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import fetch
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parser import parse_feed
from monitor.ingest.state import FeedStateStore
from monitor.messages import FeedState, RawItem, encode, encode_key, utcnow
from monitor.settings import Settings


@dataclass(frozen=True)
class PollOutcome:
    status: int  # HTTP status of the fetch (200 or 304)
    listed: int = 0
    produced: int = 0
    updated: int = 0
    skipped_empty: int = 0
    warning: str = ""


class FeedPoller:
    """Polls feeds into `news.raw`; an item is marked seen only after the broker acknowledged it."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        producer: AIOKafkaProducer,
        store: FeedStateStore,
    ) -> None:
        self._s = settings
        self._session = session
        self._producer = producer
        self._store = store

    def state_of(self, feed: FeedConfig) -> FeedState | None:
        return self._store.get(feed.id)

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """Poll once; raise FeedError for feed failures and KafkaError when the broker cannot take items."""
        now = utcnow()
        state = self._store.get(feed.id) or FeedState(feed_id=feed.id, url=feed.url, subscribed_at=now)
        try:
            result = await fetch(
                self._session, feed.url, self._s.ingest, etag=state.etag, last_modified=state.last_modified
            )
            if result.status == 304:
                return PollOutcome(304)
            parsed = await asyncio.to_thread(parse_feed, result.body, result.headers, result.url)
        except FeedError as exc:
            await self._store.put(
                state.model_copy(
                    update={
                        "last_attempt": now,
                        "consecutive_errors": state.consecutive_errors + 1,
                        "last_error_kind": exc.kind.value,
                        "last_error": str(exc)[:500],
                    }
                )
            )
            raise
        first_poll = state.last_success is None
        # A feed's first poll lists its backlog; only stories from the last interval count as fresh.
        fresh_window = timedelta(seconds=feed.interval_s or self._s.ingest.default_interval_s)
        items, empty = normalize_entries(
            parsed.entries,
            feed,
            feed_lang=parsed.lang,
            fetched_at=now,
            backfill_before=(now - fresh_window) if first_poll else None,
            title_max=self._s.ingest.title_max_chars,
            summary_max=self._s.ingest.summary_max_chars,
        )
        new = [i for i in items if i.id not in state.seen]
        changed = [
            i.model_copy(update={"update": True})
            for i in items
            if i.id in state.seen and state.seen[i.id] != i.content_hash
        ]
        await self._produce([*new, *changed])
        await self._store.put(
            state.model_copy(
                update={
                    "url": feed.url,
                    "etag": result.headers.get("etag", ""),
                    "last_modified": result.headers.get("last-modified", ""),
                    "last_attempt": now,
                    "last_success": now,
                    "consecutive_errors": 0,
                    "last_error_kind": "",
                    "last_error": "",
                    "seen": {i.id: i.content_hash for i in items},
                }
            )
        )
        return PollOutcome(200, len(items), len(new), len(changed), empty, parsed.warning)

    async def _produce(self, items: list[RawItem]) -> None:
        topic = self._s.topics.raw
        futures = [await self._producer.send(topic, encode(i), key=encode_key(i)) for i in items]
        if futures:
            await asyncio.gather(*futures)
