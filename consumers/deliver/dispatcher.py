"""One sink's delivery: pacing, folding overflow into digests, retries, the circuit breaker, dead-lettering.

Each sink has its own dispatcher, tasks, concurrency and breaker, so a dead or slow sink never delays another.
A message whose rate budget is used up is not sent late one by one: everything that arrives while it waits for
the next token is folded into it, and it goes out as one digest.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeVar

import structlog

from consumers.deliver import metrics as delivery_metrics
from consumers.deliver.history import DeliveredLog
from consumers.deliver.limits import CircuitBreaker, TokenBucket
from consumers.deliver.payload import digest_window
from consumers.deliver.recorder import Recorder
from consumers.deliver.sinks.base import Outcome, Sink
from monitor import retry
from monitor.messages import Alert, DeadLetter, Delivery, encode
from monitor.settings import AlertSettings

log = structlog.get_logger(__name__)

Final = Literal["delivered", "failed", "dead_lettered"]
Status = Literal["delivered", "retry", "failed", "dead_lettered"]
T = TypeVar("T")
DigestKey = tuple[str, float, float]

# A window is sent this long after it ends: its last matches are still on their way through Kafka, and after a
# restart its alerts are read again in several batches that must all land in the one message.
DIGEST_GRACE_S = 1.0


class UnitCrashed(RuntimeError):
    """A bug in delivering one message stopped the stage; the message says what, with secrets redacted."""


@dataclass(eq=False)
class Job:
    """One alert for one sink; its future resolves with the final status once that status is stored."""

    alert: Alert
    sink: str
    future: asyncio.Future[str]


@dataclass(eq=False)
class Unit:
    """One message on its way: a single alert or a digest; open for more alerts until it has a send slot."""

    jobs: list[Job]
    created: float = field(default_factory=time.monotonic)
    closed: bool = False

    @property
    def alerts(self) -> list[Alert]:
        return [j.alert for j in self.jobs]


class Admission(StrEnum):
    """What the circuit breaker allows an attempt (its values are the breaker's own answers)."""

    PASS = "pass"
    PROBE = "probe"
    REFUSED = ""  # still open when the message's time ran out
    CLOSING = "closing"  # shutdown came first


@dataclass(frozen=True)
class Tried:
    """The latest attempt at a message: its number, how long it took and how the sink answered."""

    attempt: int
    ms: float
    outcome: Outcome


def _name_on_lines(unit: Unit) -> None:
    """Put the alert's ids on the lines of its send task; a digest of several alerts carries their count instead."""
    if len(unit.jobs) == 1:
        alert = unit.jobs[0].alert
        structlog.contextvars.bind_contextvars(event_id=alert.event_id, item_id=alert.item.item.id)
    else:
        # Started from the first alert's context (the task copied it): that alert alone must not name the digest.
        structlog.contextvars.unbind_contextvars("event_id", "item_id")


@dataclass(frozen=True)
class Shared:
    """What every sink's dispatcher shares: where outcomes are written, the stage's closing signal and error path."""

    recorder: Recorder
    history: DeliveredLog
    source_topic: str
    closing: asyncio.Event
    on_error: Callable[[BaseException], None]


class SinkDispatcher:
    def __init__(
        self,
        sink: Sink,
        settings: AlertSettings,
        limiter: TokenBucket,
        breaker: CircuitBreaker,
        shared: Shared,
        rng: random.Random | None = None,
    ) -> None:
        self.sink = sink
        self._s = settings
        self._limiter = limiter
        self._breaker = breaker
        self._shared = shared
        self._rng = rng or random.Random()
        self._sem = asyncio.Semaphore(sink.config.concurrency)
        self._open: Unit | None = None
        self._digests: dict[DigestKey, tuple[list[Job], asyncio.TimerHandle]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.sink.name

    # --- intake -----------------------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        """Take an alert: collect it for its rule's digest, fold it into a waiting message, or send it."""
        a = job.alert
        if a.mode == "digest" and a.digest_s > 0:
            self._collect(job)
        elif self._open is not None and not self._open.closed and len(self._open.jobs) < self._s.max_digest_items:
            self._open.jobs.append(job)
        elif self._limiter.try_take():
            self._start(Unit([job]), token=True)
        else:
            # Over budget: this message waits for the next token and gathers whatever arrives meanwhile.
            self._open = Unit([job])
            self._start(self._open, token=False)

    def _collect(self, job: Job) -> None:
        """Add the alert to its rule's digest for the window its match time falls in (clock-aligned windows)."""
        a = job.alert
        start = digest_window(a)
        key = (a.rule_id, a.digest_s, start)
        if key not in self._digests:
            due = max(0.0, start + a.digest_s - time.time()) + DIGEST_GRACE_S
            self._digests[key] = ([], asyncio.get_running_loop().call_later(due, self._flush_digest, key))
        jobs, _ = self._digests[key]
        jobs.append(job)
        if len(jobs) >= self._s.max_digest_items:
            self._flush_digest(key)

    def _flush_digest(self, key: DigestKey) -> None:
        entry = self._digests.pop(key, None)
        if entry is None or self._shared.closing.is_set():
            return  # on shutdown the collected alerts stay uncommitted and are collected again after restart
        jobs, timer = entry
        timer.cancel()
        self._start(Unit(jobs), token=False)

    def _start(self, unit: Unit, token: bool) -> None:
        task = asyncio.create_task(self._run(unit, token), name=f"deliver-{self.name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _redacted(self, exc: BaseException) -> tuple[str, str]:
        """The error and its traceback with the sink's URL and secret hidden: exceptions may quote either."""
        redact = self.sink.config.redact
        return redact(repr(exc)), redact("".join(traceback.format_exception(exc)))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # A bug, not a delivery failure: stop the stage. The unit's offsets are not committed, so the alerts
            # are delivered after the restart instead of waiting forever on a task that is gone.
            error, trace = self._redacted(exc)
            log.error("delivery.unit_crashed", sink=self.name, error=error, traceback=trace)
            self._shared.on_error(UnitCrashed(f"sink {self.name}: {self.sink.config.redact(str(exc))}"))

    def close(self) -> None:
        """Stop taking alerts; collected digests are left for the next run (their offsets are not committed)."""
        for _, timer in self._digests.values():
            timer.cancel()
        self._digests.clear()

    # --- sending ----------------------------------------------------------------------------------------------

    async def _unless_closing(self, aw: Awaitable[T]) -> tuple[bool, T | None]:
        """Run `aw` unless shutdown starts first; (False, None) when it did."""
        task = asyncio.ensure_future(aw)
        closing = asyncio.ensure_future(self._shared.closing.wait())
        try:
            await asyncio.wait({task, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if task.done():
            return True, task.result()
        task.cancel()
        return False, None

    async def _run(self, unit: Unit, token: bool) -> None:
        """Attempt the message until it is delivered, refused, given up on, or shutdown leaves it uncommitted."""
        _name_on_lines(unit)
        deadline = unit.created + self._s.max_age_s
        tried = Tried(0, 0.0, Outcome(False, error="not attempted"))
        while True:
            admission = await self._admit(deadline)
            if admission is Admission.CLOSING:
                return  # shutdown: the alerts stay uncommitted and are delivered after restart
            if admission is Admission.REFUSED:
                why = f"circuit open; last error: {tried.outcome.error}"
                await self._finish(unit, "dead_lettered", tried.attempt, 0.0, tried.outcome, why)
                return
            attempted = await self._attempt(unit, token, admission, tried.attempt + 1)
            if attempted is None:
                return
            token, tried = False, attempted
            self._judge(tried.outcome)
            if await self._settle(unit, tried, deadline) or not await self._pause_before_retry(unit, tried):
                return

    async def _admit(self, deadline: float) -> Admission:
        """Wait, if the circuit is open, until an attempt may start, `deadline` passes, or shutdown begins."""
        admitted = self._breaker.try_acquire()
        if admitted:
            return Admission(admitted)
        ok, waited = await self._unless_closing(self._breaker.acquire(deadline))
        return Admission(waited or "") if ok else Admission.CLOSING

    async def _attempt(self, unit: Unit, token: bool, admission: Admission, attempt: int) -> Tried | None:
        """One send within the sink's concurrency and rate budget; None when shutdown came first."""
        async with self._sem:
            if not token and not self._limiter.try_take():
                ok, _ = await self._unless_closing(self._limiter.take())
                if not ok:
                    if admission is Admission.PROBE:
                        self._breaker.release()
                    return None
            unit.closed = True
            if self._open is unit:
                self._open = None
            started = time.monotonic()
            outcome = await self._send(unit, attempt)
            return Tried(attempt, (time.monotonic() - started) * 1000, outcome)

    def _judge(self, last: Outcome) -> None:
        """Tell the breaker how the sink answered."""
        # Any answer below 500 shows the sink is up, even a refusal; only silence and 5xx count against it.
        if last.ok or (0 < last.status < 500 and last.status != 408):
            if self._breaker.success():
                log.info("sink.circuit_closed", sink=self.name)
        elif self._breaker.failure():
            log.warning(
                "sink.circuit_open",
                sink=self.name,
                failures=self._breaker.failures,
                cooldown_s=self._breaker.cooldown_s,
                error=last.error,
            )

    async def _settle(self, unit: Unit, t: Tried, deadline: float) -> bool:
        """Finish the message when the attempt decided it (delivered, refused, or out of attempts or time)."""
        last = t.outcome
        if last.ok:
            await self._finish(unit, "delivered", t.attempt, t.ms, last)
        elif not last.retryable:
            await self._finish(unit, "failed", t.attempt, t.ms, last, last.error)
        elif t.attempt >= self._s.max_attempts or time.monotonic() >= deadline:
            why = f"gave up after {t.attempt} attempts: {last.error}"
            await self._finish(unit, "dead_lettered", t.attempt, t.ms, last, why)
        else:
            return False
        return True

    async def _pause_before_retry(self, unit: Unit, t: Tried) -> bool:
        """Wait out the backoff (and the sink's Retry-After); False when shutdown came first."""
        last = t.outcome
        delay = retry.backoff_s(t.attempt, self._s.backoff_base_s, self._s.backoff_max_s, self._rng)
        delay = retry.wait_s(delay, last.retry_after_s, self._s.retry_after_max_s)
        if last.retry_after_s is not None and last.status in (429, 503):
            self._limiter.pause_for(min(last.retry_after_s, self._s.retry_after_max_s))
        self._shared.recorder.note(self._records(unit, "retry", t.attempt, t.ms, last))
        log.warning(
            "delivery.retry",
            sink=self.name,
            alerts=len(unit.jobs),
            attempt=t.attempt,
            status=last.status,
            error=last.error,
            retry_in_s=round(delay, 2),
        )
        ok, _ = await self._unless_closing(asyncio.sleep(delay))
        return ok

    async def _send(self, unit: Unit, attempt: int) -> Outcome:
        try:
            return await self.sink.send(unit.alerts, attempt)
        except Exception as exc:
            # A sink that raises has a bug for this payload: dead-letter it (permanent) rather than lose the task.
            error, trace = self._redacted(exc)
            log.error("sink.crashed", sink=self.name, alerts=len(unit.jobs), error=error, traceback=trace)
            return Outcome(False, 0, False, None, f"internal error: {error}")

    def _records(self, unit: Unit, status: Status, attempt: int, ms: float, out: Outcome) -> list[Delivery]:
        return [
            Delivery(
                event_id=j.alert.event_id,
                sink=self.name,
                attempt=attempt,
                status=status,
                latency_ms=round(ms, 3),
                error=out.error[:2000],
                rule_id=j.alert.rule_id,
                http_status=out.status,
                batch=len(unit.jobs),
                reference=out.reference if len(unit.jobs) == 1 else "",
            )
            for j in unit.jobs
        ]

    async def _finish(self, unit: Unit, status: Final, attempt: int, ms: float, out: Outcome, why: str = "") -> None:
        if status == "delivered":
            delivery_metrics.delivered(self.name, unit.alerts)
        letters = []
        if status != "delivered":
            error_class: Literal["permanent", "exhausted"] = "permanent" if status == "failed" else "exhausted"
            letters = [
                DeadLetter.of(
                    encode(j.alert),
                    source_key=j.alert.event_id,
                    reason=why,
                    source_topic=self._shared.source_topic,
                    error_class=error_class,
                    attempts=attempt,
                    sink=self.name,
                )
                for j in unit.jobs
            ]
            log.error(
                "delivery.dead_lettered",
                sink=self.name,
                alerts=len(unit.jobs),
                attempts=attempt,
                error_class=error_class,
                reason=why,
            )
        await self._shared.recorder.write(self._records(unit, status, attempt, ms, out), letters)
        for j in unit.jobs:
            if status == "delivered":
                self._shared.history.add(j.alert.event_id, self.name, out.reference if len(unit.jobs) == 1 else "")
            if not j.future.done():
                j.future.set_result(status)
        if status == "delivered":
            log.debug("delivery.delivered", sink=self.name, alerts=len(unit.jobs), attempt=attempt, ms=round(ms, 1))
