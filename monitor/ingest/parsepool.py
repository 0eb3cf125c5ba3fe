"""Feed parsing off the event loop: in a thread, or in worker processes, stopped when it runs out of time.

feedparser is pure Python: in a thread it holds the pollers' GIL, so it is limited to one core and every fetch and
produce on the event loop waits for it. Worker processes give parsing cores of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import FrameType

import structlog

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.formats.entry import ParsedFeed
from monitor.ingest.parser import ParserChoice, parse_fast, parse_feed
from monitor.workers import spawn_pool

log = structlog.get_logger(__name__)
THREAD_NAME = "feed-parse"  # of the thread each parse runs in when there are no worker processes

# A FeedError raised in a worker comes back as (kind, message, status): its keyword-only constructor does not
# survive pickling.
_WorkerResult = ParsedFeed | tuple[str, str, int | None]

# How long past its deadline a worker's answer may take to arrive (it stops the parse itself).
_ANSWER_GRACE_S = 1.0
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


class _OutOfTime(BaseException):
    """Raised inside a parse that ran out of time; a BaseException, so no `except Exception` in a parser stops it."""


def _out_of_time_message(timeout_s: float) -> str:
    return f"parsing took longer than {timeout_s:g} s"


def _parse_in_worker(
    body: bytes, headers: dict[str, str], url: str, timeout_s: float, parser: ParserChoice = "auto"
) -> _WorkerResult:
    """parse_feed under a SIGALRM deadline, so a runaway parse frees its worker instead of running on unobserved."""
    signal.signal(signal.SIGALRM, _raise_out_of_time)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return parse_feed(body, headers, url, parser)
    except FeedError as exc:
        return exc.kind.value, str(exc.args[0]), exc.status
    except _OutOfTime:
        return ErrorKind.PARSE.value, _out_of_time_message(timeout_s), None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _raise_out_of_time(signum: int, frame: FrameType | None) -> None:
    raise _OutOfTime


class _ThreadParse(threading.Thread):
    """parse_feed in a thread of its own, which `interrupt` stops at its next Python instruction."""

    def __init__(
        self, job: tuple[bytes, dict[str, str], str, ParserChoice], future: asyncio.Future[ParsedFeed]
    ) -> None:
        super().__init__(name=THREAD_NAME, daemon=True)
        self._job = job
        self._future = future
        self._loop = future.get_loop()
        self._lock = threading.Lock()
        self._finished = False

    def run(self) -> None:
        try:
            try:
                outcome: ParsedFeed | Exception = parse_feed(*self._job)
            except Exception as exc:  # handed to the awaiting poll, which classifies it
                outcome = exc
            with self._lock:
                self._finished = True
        except _OutOfTime:
            return  # the poll already failed as out of time
        self._loop.call_soon_threadsafe(_settle, self._future, outcome)

    def interrupt(self) -> None:
        """Raise _OutOfTime in the parse unless it has finished; a parse stuck in one C call stops when it returns."""
        with self._lock:
            if not self._finished and self.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.ident), ctypes.py_object(_OutOfTime))


def _settle(future: asyncio.Future[ParsedFeed], outcome: ParsedFeed | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


async def _parse_in_thread(
    body: bytes, headers: dict[str, str], url: str, timeout_s: float, parser: ParserChoice
) -> ParsedFeed:
    future: asyncio.Future[ParsedFeed] = asyncio.get_running_loop().create_future()
    job = _ThreadParse((body, headers, url, parser), future)
    job.start()
    try:
        return await asyncio.wait_for(future, timeout_s)
    except TimeoutError as exc:
        raise FeedError(ErrorKind.PARSE, _out_of_time_message(timeout_s)) from exc
    finally:
        job.interrupt()  # also when the poll itself is cancelled


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """The process's one pool of `workers` processes, started on first use (spawned: no forked event loop)."""
    global _pool, _pool_workers
    with _lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = spawn_pool(workers)
            _pool_workers = workers
            # Started by whichever feed's poll came first, but about no feed: logged without that feed's id.
            contextvars.Context().run(log.info, "parsepool.started", workers=workers)
        return _pool


def _discard(pool: ProcessPoolExecutor) -> bool:
    """Forget a broken pool so the next parse starts a fresh one; False when another parse already did."""
    global _pool
    with _lock:
        current = _pool is pool
        if current:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)
    return current


def shutdown() -> None:
    """Stop the worker processes (they also stop when this process exits)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


async def parse(
    body: bytes,
    headers: dict[str, str],
    url: str,
    *,
    workers: int,
    timeout_s: float,
    parser: ParserChoice = "auto",
    inline_max_bytes: int = 0,
) -> ParsedFeed:
    """parse_feed in a thread when `workers` is 0, else in the shared pool; raise FeedError as parse_feed does.

    A body of at most `inline_max_bytes` that the fast parser reads is parsed right here instead: native code that
    takes well under a millisecond per typical feed, less than handing the body to a worker and its result back.
    A parse that outlasts `timeout_s` is stopped where it is and fails its poll as a parse error. A worker that dies
    (a crash in a parser) fails every parse waiting on the pool, each as a feed error, and the next parse starts a
    fresh pool.
    """
    if len(body) <= inline_max_bytes:
        quick = parse_fast(body, headers, url, parser)
        if quick is not None:
            return quick
        parser = "feedparser"  # the fast path said no here: the worker need not try it again
    if workers <= 0:
        return await _parse_in_thread(body, headers, url, timeout_s, parser)
    pool = _shared_pool(workers)
    future: Future[_WorkerResult] | None = None
    try:
        future = pool.submit(_parse_in_worker, body, headers, url, timeout_s, parser)
        # The worker stops the parse itself at `timeout_s`; waiting a little longer lets its answer say so.
        result = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s + _ANSWER_GRACE_S)
    except BrokenProcessPool as exc:
        if _discard(pool):  # one line per broken pool, not one per parse that was waiting on it
            log.error("parsepool.broken", workers=workers, url=url, error=str(exc))
        raise FeedError(ErrorKind.PARSE, "a parser process died while parsing this feed") from exc
    except TimeoutError as exc:
        if future is not None:
            future.cancel()  # still queued behind other parses: it need not run at all
        raise FeedError(ErrorKind.TIMEOUT, f"no parse worker answered within {timeout_s:g} s") from exc
    except _OutOfTime as exc:  # the deadline struck as the parse was returning
        raise FeedError(ErrorKind.PARSE, _out_of_time_message(timeout_s)) from exc
    if isinstance(result, tuple):
        kind, message, status = result
        raise FeedError(ErrorKind(kind), message, status=status)
    return result
