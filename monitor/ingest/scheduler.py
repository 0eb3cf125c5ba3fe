"""When each feed is polled: one loop per feed, bounded concurrency, backoff with jitter, graceful drain."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime

import structlog
from aiokafka.errors import KafkaError

from monitor.ingest.errors import FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.poller import FeedPoller
from monitor.messages import utcnow
from monitor.settings import IngestSettings

log = structlog.get_logger(__name__)


def backoff_delay(errors: int, s: IngestSettings, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff from the minimum interval, capped, with ±20% jitter; a server's Retry-After wins."""
    base = min(s.max_backoff_s, s.min_interval_s * (2 ** max(0, errors - 1)))
    delay = base * rng.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, s.max_backoff_s))
    return delay


class Scheduler:
    """Runs every enabled feed's poll loop until stopped, then lets polls in flight finish."""

    def __init__(self, poller: FeedPoller, feeds: list[FeedConfig], s: IngestSettings, seed: int | None = None):
        self._poller = poller
        self._feeds = [f for f in feeds if f.enabled]
        self._s = s
        self._sem = asyncio.Semaphore(s.concurrency)
        self._stop = asyncio.Event()
        self._rng = random.Random(seed)
        self.polls = 0
        self.items = 0

    def _interval(self, feed: FeedConfig) -> float:
        return min(self._s.max_interval_s, max(self._s.min_interval_s, feed.interval_s or self._s.default_interval_s))

    def _first_delay(self, feed: FeedConfig) -> float:
        state = self._poller.state_of(feed)
        # Resume a restarted poller's schedule instead of fetching everything at once.
        if state is not None and state.last_attempt is not None:
            if state.consecutive_errors:
                wait = backoff_delay(state.consecutive_errors, self._s, None, self._rng)
            else:
                wait = self._interval(feed)
            return max(0.0, wait - _seconds_since(state.last_attempt)) + self._rng.uniform(0.0, 1.0)
        return self._rng.uniform(0.0, min(2.0, self._interval(feed)))

    async def run(self, drain_timeout_s: float = 30.0) -> None:
        loops = [asyncio.create_task(self._loop(f), name=f"feed:{f.id}") for f in self._feeds]
        log.info("scheduler.started", feeds=len(loops), concurrency=self._s.concurrency)
        try:
            await self._stop.wait()
        finally:
            # Loops leave at their next wait; a poll in flight finishes so its items and state are consistent.
            done, pending = await asyncio.wait(loops, timeout=drain_timeout_s) if loops else (set(), set())
            for task in pending:
                task.cancel()
            if pending:
                log.warning("scheduler.drain_timeout", cancelled=len(pending))
                await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("scheduler.loop_crashed", task=task.get_name(), error=repr(task.exception()))
            log.info("scheduler.stopped", polls=self.polls, items=self.items)

    def stop(self) -> None:
        self._stop.set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when the loop should go on."""
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False

    async def _loop(self, feed: FeedConfig) -> None:
        delay = self._first_delay(feed)
        errors_logged_at = 0
        while await self._sleep(delay):
            async with self._sem:
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    outcome = await self._poller.poll(feed)
                except FeedError as exc:
                    state = self._poller.state_of(feed)
                    errors = state.consecutive_errors if state else 1
                    delay = backoff_delay(errors, self._s, exc.retry_after, self._rng)
                    # One line per failure; failures are spaced by the backoff, so a dead feed stays quiet.
                    log.warning("feed.error", feed=feed.id, kind=exc.kind.value, status=exc.status,
                                error=str(exc), consecutive=errors, retry_in_s=round(delay, 1))  # fmt: skip
                    errors_logged_at = errors
                    continue
                except KafkaError as exc:
                    delay = min(30.0, self._interval(feed))
                    log.error("feed.produce_failed", feed=feed.id, error=repr(exc), retry_in_s=delay)
                    continue
                self.polls += 1
                self.items += outcome.produced + outcome.updated
                delay = self._interval(feed) * self._rng.uniform(0.95, 1.05)
                if errors_logged_at:
                    log.info("feed.recovered", feed=feed.id, after_errors=errors_logged_at)
                    errors_logged_at = 0
                if outcome.status == 200 and (outcome.produced or outcome.updated or outcome.skipped_empty):
                    log.info("feed.polled", feed=feed.id, listed=outcome.listed, produced=outcome.produced,
                             updated=outcome.updated, skipped_empty=outcome.skipped_empty,
                             ms=round((time.monotonic() - started) * 1000))  # fmt: skip


def _seconds_since(when: datetime) -> float:
    return (utcnow() - when).total_seconds()
