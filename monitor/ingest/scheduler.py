"""When each feed is polled: one loop per feed, bounded concurrency, backoff with jitter, graceful drain."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import structlog

from monitor.ingest import metrics, policy
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.hosts import HostSlots, fetch_host
from monitor.ingest.poller import FeedPoller, PollOutcome
from monitor.ingest.state import FeedStateStore
from monitor.messages import FeedState, utcnow
from monitor.settings import IngestSettings

log = structlog.get_logger(__name__)


class _Stop:
    """A stop signal like asyncio.Event, sized for one per feed: no deque, and a timed wait without an extra task."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        for waiter in self._waiters or ():
            _wake(waiter)

    async def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until set, or at most `timeout_s`; whether it is set."""
        if self._set:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(timeout_s, _wake, waiter) if timeout_s is not None else None
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            self._waiters.remove(waiter)
            if not self._waiters:
                self._waiters = None
            if timer is not None:
                timer.cancel()
        return self._set


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(eq=False, slots=True)
class _FeedLoop:
    feed: FeedConfig
    stop: _Stop
    task: asyncio.Task[None]


class Scheduler:
    """Runs every enabled feed's poll loop until stopped, then lets polls in flight finish.

    Feeds can also be added and removed while it runs (the pollers' group reassigns them); one feed never has
    two polls at once.
    """

    def __init__(
        self,
        poller: FeedPoller,
        store: FeedStateStore,
        feeds: list[FeedConfig],
        s: IngestSettings,
        seed: int | None = None,
    ):
        self._poller = poller
        self._store = store
        self._feeds = [f for f in feeds if f.enabled]
        self._s = s
        self._sem = asyncio.Semaphore(s.concurrency)
        self._hosts = HostSlots(s.per_host)
        self._stop = _Stop()
        # Unfinished loops per feed id, oldest first; only the last one may be live (its stop event unset).
        self._loops: dict[str, list[_FeedLoop]] = {}
        self._by_task: dict[asyncio.Task[None], _FeedLoop] = {}
        self._rng = random.Random(seed)
        self.polls = 0
        self.items = 0

    def _first_delay(self, feed: FeedConfig) -> float:
        # Resume a restarted poller's schedule instead of fetching everything at once; overdue feeds are spread out.
        state = self._store.get(feed.id)
        spread = self._rng.uniform(0.0, min(2.0, policy.interval_of(feed, state, self._s)))
        if state is not None and state.url != feed.url:
            return spread  # a new URL owes nothing to the old one's schedule
        due_in = _due_in(state)
        return due_in if due_in is not None and due_in > 0 else spread

    def feed_health(self) -> Iterator[tuple[str, policy.FeedHealth]]:
        """(feed id, health) of every feed this scheduler polls, for metrics."""
        for feed, state in self.feed_states():
            yield feed.id, policy.feed_health(state, feed.url)

    def feed_states(self) -> Iterator[tuple[FeedConfig, FeedState | None]]:
        """Every feed this scheduler polls with its latest state, for the status page."""
        for loops in list(self._loops.values()):
            if loops:
                feed = loops[-1].feed
                yield feed, self._store.get(feed.id)

    async def run(self, drain_timeout_s: float = 30.0) -> None:
        self.add(self._feeds)
        log.info("scheduler.started", feeds=len(self.feed_ids()), concurrency=self._s.concurrency)
        metrics.watch(self)
        try:
            await self._stop.wait()
        finally:
            metrics.unwatch(self)
            # Loops leave at their next wait; a poll in flight finishes so its items and state are consistent.
            self._signal_all()
            await self._drain(list(self._by_task), drain_timeout_s)
            log.info("scheduler.stopped", polls=self.polls, items=self.items)

    def stop(self) -> None:
        self._stop.set()
        self._signal_all()

    def add(self, feeds: Iterable[FeedConfig]) -> None:
        """Poll these feeds from now on; one already polled under another config restarts after its poll in flight."""
        for feed in feeds:
            loops = self._loops.get(feed.id, [])
            if loops and not loops[-1].stop.is_set() and loops[-1].feed == feed:
                continue
            for loop in loops:
                loop.stop.set()
            if feed.enabled and not self._stop.is_set():
                self._start(feed, [loop.task for loop in loops])

    def discard(self, feed_ids: Iterable[str]) -> None:
        """Stop polling these feeds without waiting; a poll in flight still finishes."""
        for feed_id in feed_ids:
            for loop in self._loops.get(feed_id, []):
                loop.stop.set()

    async def remove(self, feed_ids: Iterable[str], timeout_s: float) -> None:
        """Stop polling these feeds and wait until their polls in flight finished (cancelled after timeout_s)."""
        ids = set(feed_ids)
        self.discard(ids)
        await self._drain([loop.task for f in ids for loop in self._loops.get(f, [])], timeout_s)

    def feed_ids(self, *, stopping: bool = False) -> set[str]:
        """The feeds being polled now; with `stopping`, also those whose last poll is still finishing."""
        return {f for f, loops in self._loops.items() if loops and (stopping or not loops[-1].stop.is_set())}

    def config_of(self, feed_id: str) -> FeedConfig | None:
        """The config a feed is polled with now, or None when it is not polled."""
        loops = self._loops.get(feed_id)
        return loops[-1].feed if loops and not loops[-1].stop.is_set() else None

    def _start(self, feed: FeedConfig, after: list[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(self._run_loop(feed, after), name=f"feed:{feed.id}")
        loop = _FeedLoop(feed, _Stop(), task)
        self._loops.setdefault(feed.id, []).append(loop)
        self._by_task[task] = loop
        task.add_done_callback(self._on_done)

    async def _run_loop(self, feed: FeedConfig, after: list[asyncio.Task[None]]) -> None:
        if after:
            # Never two polls of one feed at once: the loops it replaces finish their polls in flight first.
            await asyncio.wait(after)
        if not self._stopping():
            await self._loop(feed)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        loop = self._by_task.pop(task)
        loops = self._loops.get(loop.feed.id, [])
        if loop in loops:
            loops.remove(loop)
        if not loops:
            self._loops.pop(loop.feed.id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler.loop_crashed", feed=loop.feed.id, error=repr(task.exception()))

    async def _drain(self, tasks: list[asyncio.Task[None]], timeout_s: float) -> None:
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("scheduler.drain_timeout", cancelled=len(pending))
            await asyncio.gather(*pending, return_exceptions=True)

    def _signal_all(self) -> None:
        for loop in self._by_task.values():
            loop.stop.set()

    def _stop_event(self) -> _Stop:
        """The calling feed loop's own stop event (the scheduler's, outside a feed loop)."""
        task = asyncio.current_task()
        loop = self._by_task.get(task) if task is not None else None
        return loop.stop if loop is not None else self._stop

    def _stopping(self) -> bool:
        return self._stop_event().is_set()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True when the loop should go on."""
        return not await self._stop_event().wait(seconds)

    async def _loop(self, feed: FeedConfig) -> None:
        # Each feed's loop is a task of its own, so the id stays on this feed's lines only.
        structlog.contextvars.bind_contextvars(feed_id=feed.id)
        reason = policy.disabled_reason_at(self._store.get(feed.id), feed.url)
        if reason:
            # Logged with a WARNING when it was disabled; until its URL changes it is not polled again.
            log.info("feed.skipped_disabled", feed=feed.id, reason=reason)
            await self._park()
            return
        delay = self._first_delay(feed)
        # Only numbers stay in this frame between polls: a state kept here would outlive its replacement.
        errors = self._errors(feed)
        while await self._sleep(delay):
            # The host's slot first: polls queued behind a slow host must not hold global slots meanwhile.
            async with self._hosts.slot(fetch_host(feed, self._store.get(feed.id))), self._sem:
                if self._stopping():
                    return
                started = time.monotonic()
                outcome = await self._poller.poll(feed)
            delay = outcome.next_poll_in_s
            if outcome.kind == "disabled":
                self._log_failure(feed, outcome, errors + 1)
                await self._park()
                return
            if outcome.kind in ("failed", "produce_failed"):
                errors += outcome.kind == "failed"
                self._log_failure(feed, outcome, errors)
                continue
            self._polled(feed, outcome, errors, time.monotonic() - started)
            errors = 0

    def _errors(self, feed: FeedConfig) -> int:
        """The feed's consecutive failures so far (none when its URL changed since)."""
        state = self._store.get(feed.id)
        return state.consecutive_errors if state is not None and state.url == feed.url else 0

    def _polled(self, feed: FeedConfig, outcome: PollOutcome, errors_before: int, took_s: float) -> None:
        self.polls += 1
        self.items += outcome.produced + outcome.updated
        if errors_before:
            log.info("feed.recovered", feed=feed.id, after_errors=errors_before)
        if outcome.kind == "fetched" and (outcome.produced or outcome.updated or outcome.skipped_empty):
            log.info("feed.polled", feed=feed.id, listed=outcome.listed, produced=outcome.produced,
                     updated=outcome.updated, skipped_empty=outcome.skipped_empty, ms=round(took_s * 1000))  # fmt: skip

    def _log_failure(self, feed: FeedConfig, outcome: PollOutcome, errors: int) -> None:
        """One line per feed failure; failures are spaced by the backoff, so a dead feed stays quiet."""
        exc = outcome.error
        if exc is None:
            return  # the broker refused the items; the poller logged it where it happened
        if outcome.kind == "disabled":
            log.warning("feed.disabled", feed=feed.id, reason=outcome.disabled_reason, kind=exc.kind.value,
                        status=exc.status, url=feed.url, consecutive=errors)  # fmt: skip
            return
        log.warning("feed.error", feed=feed.id, kind=exc.kind.value, status=exc.status,
                    error=str(exc), consecutive=errors, retry_in_s=round(outcome.next_poll_in_s, 1))  # fmt: skip

    async def _park(self) -> None:
        """Keep a disabled feed's loop, idle, until it is stopped: the feed stays assigned and visible in metrics."""
        await self._stop_event().wait()


def _due_in(state: FeedState | None) -> float | None:
    """Seconds until the state's next poll (negative when overdue); None when it has none."""
    if state is None or state.next_poll_at is None:
        return None
    return (state.next_poll_at - utcnow()).total_seconds()
