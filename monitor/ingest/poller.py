"""One poll of one feed, end to end: fetch, parse, normalize, produce what is new, remember what was seen."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog
from aiokafka import AIOKafkaProducer

from monitor import metrics
from monitor.ingest import parsepool, policy
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import FetchResult, fetch
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parser import ParsedFeed
from monitor.ingest.state import FeedStateStore, compact
from monitor.messages import FeedState, RawItem, SeenItems, encode, encode_key, utcnow
from monitor.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PollOutcome:
    status: int  # HTTP status of the fetch (200 or 304)
    listed: int = 0
    produced: int = 0
    updated: int = 0
    skipped_empty: int = 0
    warning: str = ""
    next_poll_in_s: float = 0.0  # when the feed is due again, by the polling policy


class FeedPoller:
    """Polls feeds into `news.raw`; an item is marked seen only after the broker acknowledged it.

    The poller keeps every feed's latest state in memory and writes it to the feed-state topic on every 200, on every
    failure and whenever something an operator or a restarted poller needs changed; a plain 304 is written only
    every `ingest.state_write_interval_s`.
    """

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        producer: AIOKafkaProducer,
        store: FeedStateStore,
        rng: random.Random | None = None,
    ) -> None:
        self._s = settings
        self._session = session
        self._producer = producer
        self._store = store
        self._rng = rng or random.Random()
        # Feed id -> (the stored state it was derived from, the newer state not yet written, e.g. after a 304).
        self._unwritten: dict[str, tuple[FeedState | None, FeedState]] = {}
        self._written_at: dict[str, float] = {}
        # State read back at start-up is already in the topic: count it as written then.
        self._started = time.monotonic()

    def state_of(self, feed: FeedConfig) -> FeedState | None:
        stored = self._store.get(feed.id)
        pending = self._unwritten.get(feed.id)
        # If the store was refreshed since (another poller polled the feed), its state wins.
        return pending[1] if pending is not None and pending[0] is stored else stored

    def disabled_reason(self, feed: FeedConfig) -> str:
        """Why the feed is disabled, or '' when it is not (a changed configured URL re-enables it)."""
        state = self.state_of(feed)
        if state is None or state.url != feed.url:
            return ""
        return state.disabled_reason

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """Poll once; raise FeedError for feed failures and KafkaError when the broker cannot take items."""
        now = utcnow()
        state = self._current(feed, now)
        bounds = policy.bounds_for(feed, self._s.ingest)
        # A failing feed is fetched unconditionally, so only a good 200 can clear its errors.
        validators = state.consecutive_errors == 0
        etag = state.etag if validators else ""
        last_modified = state.last_modified if validators else ""
        started = time.monotonic()
        try:
            try:
                result = await fetch(
                    self._session,
                    state.effective_url or feed.url,
                    self._s.ingest,
                    etag=etag,
                    last_modified=last_modified,
                )
            finally:
                metrics.FETCH_SECONDS.observe(time.monotonic() - started)
            if result.status == 304:
                if not (etag or last_modified):
                    raise FeedError(
                        ErrorKind.HTTP_STATUS, "304 Not Modified to a request without validators", status=304
                    )
                return await self._not_modified(feed, state, result, now, bounds)
            parsed = await self._parse(result)
        except FeedError as exc:
            metrics.poll_failed(exc.kind.value)
            await self._failed(feed, state, exc, now, bounds)
            raise
        return await self._fresh(feed, state, result, parsed, now, bounds)

    def _current(self, feed: FeedConfig, now: datetime) -> FeedState:
        state = self.state_of(feed)
        if state is None:
            return FeedState(feed_id=feed.id, url=feed.url, subscribed_at=now)
        if state.url == feed.url:
            return state
        # The operator changed the URL: the new one wins, and what was learned about the old one is dropped.
        log.info(
            "feed.url_changed", feed=feed.id, old=state.url, new=feed.url, was_disabled=bool(state.disabled_reason)
        )
        return state.model_copy(
            update={
                "url": feed.url,
                "effective_url": "",
                "etag": "",
                "last_modified": "",
                "consecutive_errors": 0,
                "not_found_streak": 0,
                "last_error_kind": "",
                "last_error": "",
                "disabled_reason": "",
                "disabled_at": None,
            }
        )

    async def _parse(self, result: FetchResult) -> ParsedFeed:
        try:
            ing = self._s.ingest
            return await parsepool.parse(
                result.body, result.headers, result.url, workers=ing.parse_workers, timeout_s=ing.total_timeout_s
            )
        except FeedError:
            raise
        except Exception as exc:
            # A parser that chokes on hostile bytes is still bad input from this feed; its loop must go on.
            raise FeedError(ErrorKind.PARSE, f"parser failed: {type(exc).__name__}: {exc}"[:300]) from exc

    async def _failed(
        self, feed: FeedConfig, state: FeedState, exc: FeedError, now: datetime, bounds: policy.Bounds
    ) -> None:
        ing = self._s.ingest
        errors = state.consecutive_errors + 1
        counts = dict(state.error_counts)
        counts[exc.kind.value] = counts.get(exc.kind.value, 0) + 1
        http = exc.kind is ErrorKind.HTTP_STATUS
        streak = state.not_found_streak + 1 if http and exc.status == 404 else 0
        disabled = state.disabled_reason
        if http and exc.status == 410:
            disabled = "410 Gone"
        elif streak >= ing.disable_after_404:
            disabled = f"404 Not Found on {streak} consecutive polls"
        delay = policy.backoff_delay(
            errors,
            base_s=bounds.min_s,
            max_s=ing.max_backoff_s,
            retry_after_s=exc.retry_after,
            slow=exc.slow_retry,
            rng=self._rng,
        )
        await self._write(
            state.model_copy(
                update={
                    "last_attempt": now,
                    "consecutive_errors": errors,
                    "last_error_kind": exc.kind.value,
                    "last_error": str(exc)[:500],
                    "error_counts": counts,
                    "not_found_streak": streak,
                    "next_poll_at": now + timedelta(seconds=delay),
                    "disabled_reason": disabled,
                    "disabled_at": (state.disabled_at or now) if disabled else None,
                    # A redirect target the fetch policy refuses (persisted before it) is dropped.
                    "effective_url": "" if exc.kind is ErrorKind.BLOCKED_ADDRESS else state.effective_url,
                }
            )
        )

    def _quiet(self, feed: FeedConfig, state: FeedState, now: datetime, bounds: policy.Bounds) -> tuple[bool, float]:
        """Whether the feed is silent now, and how long it has been quiet."""
        ing = self._s.ingest
        quiet = (now - (state.last_new_item_at or state.subscribed_at)).total_seconds()
        silent = policy.is_silent(
            quiet,
            state.expected_gap_s,
            gaps=ing.silence_gaps,
            floor_s=ing.silent_min_s,
            configured_s=bounds.silent_after_s,
        )
        return silent, quiet

    def _schedule(
        self, state: FeedState, silent: bool, result: FetchResult, now: datetime, bounds: policy.Bounds
    ) -> tuple[float, float]:
        """The feed's interval and the wait until its next poll."""
        ing = self._s.ingest
        interval = policy.poll_interval(
            bounds, state.expected_gap_s, fraction=ing.poll_fraction, default_s=ing.default_interval_s, silent=silent
        )
        max_age = policy.cache_max_age(result.headers.get("cache-control"), result.headers.get("age"))
        return interval, policy.next_delay(interval, max_age, bounds.max_s, self._rng)

    async def _not_modified(
        self, feed: FeedConfig, state: FeedState, result: FetchResult, now: datetime, bounds: policy.Bounds
    ) -> PollOutcome:
        metrics.POLLS_304.inc()
        silent, quiet = self._quiet(feed, state, now, bounds)
        interval, delay = self._schedule(state, silent, result, now, bounds)
        effective = self._effective_url(feed, state, result)
        new = state.model_copy(
            update={
                "last_attempt": now,
                "next_poll_at": now + timedelta(seconds=delay),
                "interval_s": interval,
                "silent": silent,
                "effective_url": effective,
            }
        )
        changed = silent != state.silent or effective != state.effective_url or interval != state.interval_s
        written = self._written_at.get(feed.id, self._started)
        stale = time.monotonic() - written >= self._s.ingest.state_write_interval_s
        if changed or stale:
            await self._write(new)
        else:
            self._unwritten[feed.id] = (self._store.get(feed.id), compact(new))
        self._log_silence(feed, state, new, quiet)
        return PollOutcome(304, next_poll_in_s=delay)

    async def _fresh(
        self,
        feed: FeedConfig,
        state: FeedState,
        result: FetchResult,
        parsed: ParsedFeed,
        now: datetime,
        bounds: policy.Bounds,
    ) -> PollOutcome:
        ing = self._s.ingest
        effective = self._effective_url(feed, state, result)
        source = feed.model_copy(update={"url": effective}) if effective else feed
        first_poll = state.last_success is None
        # A feed's first poll lists its backlog; only stories from the last interval count as fresh.
        fresh_window = timedelta(seconds=bounds.fixed_s or ing.default_interval_s)
        items, empty = normalize_entries(
            parsed.entries,
            source,
            feed_lang=parsed.lang,
            fetched_at=now,
            backfill_before=(now - fresh_window) if first_poll else None,
            title_max=ing.title_max_chars,
            summary_max=ing.summary_max_chars,
        )
        known = [state.seen.get(i.id) for i in items]
        new = [i for i, h in zip(items, known, strict=True) if h is None]
        changed = [
            i.model_copy(update={"update": True})
            for i, h in zip(items, known, strict=True)
            if h is not None and h != i.content_hash
        ]
        await self._produce([*new, *changed])
        metrics.POLLS_200.inc()
        metrics.ITEMS_NEW.inc(len(new))
        metrics.ITEMS_UPDATED.inc(len(changed))
        gap, last_new = self._learn(state, new, first_poll)
        learned = state.model_copy(update={"expected_gap_s": gap, "last_new_item_at": last_new})
        silent, quiet = self._quiet(feed, learned, now, bounds)
        interval, delay = self._schedule(learned, silent, result, now, bounds)
        updated = learned.model_copy(
            update={
                "effective_url": effective,
                # Validators are taken only from a good 200, never from a 304 or an error.
                "etag": result.headers.get("etag", ""),
                "last_modified": result.headers.get("last-modified", ""),
                "last_attempt": now,
                "last_success": now,
                "consecutive_errors": 0,
                "not_found_streak": 0,
                "last_error_kind": "",
                "last_error": "",
                "seen": SeenItems((i.id, i.content_hash) for i in items),
                "silent": silent,
                "interval_s": interval,
                "next_poll_at": now + timedelta(seconds=delay),
            }
        )
        await self._write(updated)
        self._log_silence(feed, state, updated, quiet)
        return PollOutcome(200, len(items), len(new), len(changed), empty, parsed.warning, delay)

    def _learn(self, state: FeedState, new: list[RawItem], first_poll: bool) -> tuple[float, datetime | None]:
        """The feed's publishing gap and newest-item time after this poll's new items."""
        ing = self._s.ingest
        times = [i.fetched_at if i.published_estimated else i.published for i in new]
        if first_poll:
            dated = [i.published for i in new if not i.published_estimated]
            gap = policy.backlog_gap(dated) or state.expected_gap_s
            return gap, max(times, default=state.last_new_item_at)
        return policy.observe_new_items(
            state.expected_gap_s, state.last_new_item_at, times, smoothing=ing.gap_smoothing
        )

    def _effective_url(self, feed: FeedConfig, state: FeedState, result: FetchResult) -> str:
        """Where the next poll goes: a permanent redirect moves it; '' means the configured URL."""
        target = result.permanent_redirect
        if target is None:
            return state.effective_url
        if target == feed.url:
            return ""
        if target != state.effective_url:
            log.info("feed.moved", feed=feed.id, configured=feed.url, now_at=target)
        return target

    def _log_silence(self, feed: FeedConfig, before: FeedState, after: FeedState, quiet_s: float) -> None:
        if after.silent and not before.silent:
            log.warning("feed.silent", feed=feed.id, quiet_s=round(quiet_s), expected_gap_s=round(after.expected_gap_s))
        elif before.silent and not after.silent:
            log.info("feed.speaks_again", feed=feed.id, quiet_s=round(quiet_s))

    async def _write(self, state: FeedState) -> None:
        await self._store.put(state)
        metrics.STATE_WRITES.inc()
        self._unwritten.pop(state.feed_id, None)
        self._written_at[state.feed_id] = time.monotonic()

    async def _produce(self, items: list[RawItem]) -> None:
        topic = self._s.topics.raw
        futures = [await self._producer.send(topic, encode(i), key=encode_key(i)) for i in items]
        if futures:
            await asyncio.gather(*futures)
