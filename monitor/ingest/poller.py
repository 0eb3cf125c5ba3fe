"""One poll of one feed, end to end: fetch, parse, normalize, produce what is new, remember what was seen."""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

import aiohttp
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from monitor.ingest import metrics, parsepool, policy
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import FetchResult, fetch
from monitor.ingest.formats.entry import ParsedFeed
from monitor.ingest.language import LanguageDetector, with_languages
from monitor.ingest.normalize import Known, newest_entries, normalize_changes
from monitor.ingest.state import FeedStateStore
from monitor.messages import FeedState, RawItem, SeenItems, encode, encode_key, utcnow
from monitor.settings import Settings
from monitor.stream import dead_letter
from monitor.stream.produce import ErrorClass, Outgoing, classify_error, produce_all

log = structlog.get_logger(__name__)


PollKind = Literal["fetched", "not_modified", "failed", "disabled", "produce_failed"]


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did and when the feed is due again; the scheduler acts on it alone."""

    kind: PollKind
    status: int  # HTTP status of the fetch (200, 304, or the failing one; 0 when none was received)
    listed: int = 0
    produced: int = 0
    updated: int = 0
    skipped_empty: int = 0
    warning: str = ""
    next_poll_in_s: float = 0.0  # when the feed is due again, by the polling policy or the backoff
    disabled_reason: str = ""
    error: FeedError | None = None


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
        self._capped: set[str] = set()  # feeds already warned about listing more than max_items_per_feed
        # Per feed, prints of the entries its last fetch listed: entries that read as before are not normalized again.
        self._prints: dict[str, array[int]] = {}
        self._languages = LanguageDetector(settings.ingest.language_min_confidence)

    def state_of(self, feed: FeedConfig) -> FeedState | None:
        return self._store.get(feed.id)

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """Poll once; every failure, of the feed or of the broker taking its items, is an outcome, never raised."""
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
            return await self._fresh(feed, state, result, parsed, now, bounds)
        except FeedError as exc:
            metrics.poll_failed(exc.kind.value)
            return await self._failed(feed, exc.state if isinstance(exc, StateNotWritten) else state, exc, now, bounds)
        except KafkaError as exc:
            # The items are not acknowledged, so nothing was marked seen: the next poll offers them again.
            delay = min(30.0, policy.interval_of(feed, state, self._s.ingest))
            metrics.POLLS.labels("produce_failed").inc()
            log.error("feed.produce_failed", feed=feed.id, error=repr(exc), retry_in_s=delay)
            return PollOutcome("produce_failed", 0, next_poll_in_s=delay)

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
                result.body,
                result.headers,
                result.url,
                workers=ing.parse_workers,
                timeout_s=ing.total_timeout_s,
                parser=ing.parser,
                inline_max_bytes=ing.inline_parse_max_bytes,
            )
        except FeedError:
            raise
        except Exception as exc:
            # A parser that chokes on hostile bytes is still bad input from this feed; its loop must go on.
            raise FeedError(ErrorKind.PARSE, f"parser failed: {type(exc).__name__}: {exc}"[:300]) from exc

    async def _failed(
        self, feed: FeedConfig, state: FeedState, exc: FeedError, now: datetime, bounds: policy.Bounds
    ) -> PollOutcome:
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
        # A refused write stays in memory as unwritten; the poll has failed either way.
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
        kind: PollKind = "disabled" if disabled else "failed"
        return PollOutcome(kind, exc.status or 0, next_poll_in_s=delay, disabled_reason=disabled, error=exc)

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
        await self._write_or_fail(state, new, None if changed else self._s.ingest.state_write_interval_s)
        self._log_silence(feed, state, new, quiet)
        return PollOutcome("not_modified", 304, next_poll_in_s=delay)

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
        entries = newest_entries(parsed.entries, ing.max_items_per_feed)
        if len(entries) < len(parsed.entries) and feed.id not in self._capped:
            self._capped.add(feed.id)
            log.warning("feed.too_many_items", feed=feed.id, listed=len(parsed.entries), kept=len(entries))
        listing = normalize_changes(
            replace(parsed, entries=tuple(entries)),
            source,
            Known(state.seen, frozenset(self._prints.get(feed.id, ()))),
            fetched_at=now,
            backfill_before=(now - fresh_window) if first_poll else None,
            title_max=ing.title_max_chars,
            summary_max=ing.summary_max_chars,
        )
        new, changed = listing.new, listing.changed
        await self._produce(await self._with_languages([*new, *changed]))
        self._prints[feed.id] = array("q", listing.prints)
        metrics.POLLS_200.inc()
        metrics.items_produced(len(new), len(changed))
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
                "seen": SeenItems(listing.listed),
                "silent": silent,
                "interval_s": interval,
                "next_poll_at": now + timedelta(seconds=delay),
            }
        )
        await self._write_or_fail(state, updated)
        self._log_silence(feed, state, updated, quiet)
        listed = len(listing.listed)
        return PollOutcome("fetched", 200, listed, len(new), len(changed), listing.empty, parsed.warning, delay)

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

    async def _write(self, state: FeedState, coalesce_s: float | None = None) -> KafkaError | None:
        """Write the state; when the broker does not take it, keep it in memory as unwritten and return the error."""
        try:
            written = await self._store.put(state, coalesce_s)
        except KafkaError as exc:
            if classify_error(exc) is ErrorClass.FATAL:
                raise
            self._store.hold(state)
            return exc
        if written:
            metrics.STATE_WRITES.inc()
        return None

    async def _write_or_fail(self, before: FeedState, after: FeedState, coalesce_s: float | None = None) -> None:
        """Write the state after a poll; a refusal fails the poll, which keeps what it learned and backs off."""
        error = await self._write(after, coalesce_s)
        if error is None:
            return
        carried = {k: getattr(before, k) for k in ("consecutive_errors", "error_counts", "not_found_streak")}
        raise StateNotWritten(after.model_copy(update=carried), error)

    async def _with_languages(self, items: list[RawItem]) -> list[RawItem]:
        # Only items about to be produced: a feed's unchanged entries are normalized on every poll, not sent.
        if not self._s.ingest.detect_language:
            return items
        if not self._languages.loaded and any(not i.lang for i in items):
            # Loaded in a thread: on the event loop, its second or more would stall every other feed's poll.
            await asyncio.to_thread(self._languages.load)
        return with_languages(items, self._languages)

    async def _produce(self, items: list[RawItem]) -> None:
        """Produce items, waiting for every acknowledgement; one too large to produce is dead-lettered instead."""
        t = self._s.topics
        rejected = await produce_all(self._producer, [Outgoing(t.raw, encode_key(i), encode(i)) for i in items])
        letters = [self._letter(items[r.index], r.reason) for r in rejected]
        if letters and await produce_all(self._producer, letters):
            raise RuntimeError("the broker refused a dead letter")  # bounded by DeadLetter.of: a bug, not bad input

    def _letter(self, item: RawItem, reason: str) -> Outgoing:
        with structlog.contextvars.bound_contextvars(item_id=item.id):
            log.error("feed.item_too_large", feed=item.feed_id, item=item.id, reason=reason)
        t = self._s.topics
        return dead_letter.outgoing(t.dead_letter, dead_letter.letter(encode(item), item.id, t.raw, reason))


class StateNotWritten(FeedError):
    """The broker did not take a feed's state after a poll; `state` is what the poll learned, items included."""

    def __init__(self, state: FeedState, error: KafkaError) -> None:
        super().__init__(ErrorKind.STATE_WRITE, f"feed state not written: {error!r}"[:300])
        self.state = state
