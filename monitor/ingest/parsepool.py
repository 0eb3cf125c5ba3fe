"""Feed parsing off the event loop: in a thread, or in worker processes.

feedparser is pure Python: in a thread it holds the pollers' GIL, so it is limited to one core and every fetch and
produce on the event loop waits for it. Worker processes give parsing cores of its own.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.parser import ParsedFeed, parse_feed
from monitor.workers import init_worker

log = structlog.get_logger(__name__)

# A FeedError raised in a worker comes back as (kind, message, status): its keyword-only constructor does not
# survive pickling.
_WorkerResult = ParsedFeed | tuple[str, str, int | None]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0


def _parse_in_worker(body: bytes, headers: dict[str, str], url: str) -> _WorkerResult:
    try:
        return parse_feed(body, headers, url)
    except FeedError as exc:
        return exc.kind.value, str(exc.args[0]), exc.status


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """The process's one pool of `workers` processes, started on first use (spawned: no forked event loop)."""
    global _pool, _pool_workers
    with _lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker
            )
            _pool_workers = workers
            log.info("parsepool.started", workers=workers)
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


async def parse(body: bytes, headers: dict[str, str], url: str, *, workers: int, timeout_s: float) -> ParsedFeed:
    """parse_feed in a thread when `workers` is 0, else in the shared pool; raise FeedError as parse_feed does.

    A worker that dies (a crash in a parser) fails every parse waiting on the pool, each as a feed error, and the
    next parse starts a fresh pool; a parse that outlasts `timeout_s` fails its poll and finishes in the background.
    """
    if workers <= 0:
        return await asyncio.to_thread(parse_feed, body, headers, url)
    pool = _shared_pool(workers)
    try:
        future = pool.submit(_parse_in_worker, body, headers, url)
        result = await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
    except BrokenProcessPool as exc:
        if _discard(pool):  # one line per broken pool, not one per parse that was waiting on it
            log.error("parsepool.broken", workers=workers, url=url, error=str(exc))
        raise FeedError(ErrorKind.PARSE, "a parser process died while parsing this feed") from exc
    except TimeoutError as exc:
        raise FeedError(ErrorKind.TIMEOUT, f"parsing took longer than {timeout_s:g} s") from exc
    if isinstance(result, tuple):
        kind, message, status = result
        raise FeedError(ErrorKind(kind), message, status=status)
    return result
