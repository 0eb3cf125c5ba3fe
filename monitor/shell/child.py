"""Ingest in a process of its own beside the other stages of `newsmon run`, answering as part of this process.

Parsing and normalizing a feed takes a millisecond or more of CPU, and a busy poller runs hundreds of polls a second.
In the event loop the other stages share, every Kafka and HTTP round trip of theirs would wait behind that work; in a
child process ingest has a loop, and a core, of its own. (A thread would not do: the GIL makes each of the other
loop's wake-ups wait for the poller's thread to let go.) The child's readiness, metrics and feeds are asked for by the
parent's endpoint, so the service still shows one face.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal

import structlog

from monitor.broker.local import free_port
from monitor.ingest.feeds import FeedConfig
from monitor.ops.peer import OpsPeer
from monitor.ops.status import StatusBoard
from monitor.settings import Settings
from monitor.shell.service import Stage

log = structlog.get_logger(__name__)

# A child that has not drained this long after SIGTERM is killed: its uncommitted polls are polled again.
STOP_GRACE_S = 60.0


class ChildFailed(RuntimeError):
    """The child process exited on its own: the service stops, as it does when a stage in this process fails."""


def ingest_in_child(settings: Settings, feeds: list[FeedConfig], status: StatusBoard) -> Stage:
    """The ingest stage as a child process, its endpoint on a free local port and joined to this process's."""

    async def run(stop: asyncio.Event) -> None:
        port = free_port()
        metrics = settings.metrics.model_copy(update={"host": "127.0.0.1", "port": port})
        child_settings = settings.model_copy(update={"metrics": metrics})
        proc = multiprocessing.get_context("spawn").Process(
            target=_child_main, args=(child_settings, feeds), name="newsmon-ingest"
        )
        proc.start()
        log.info("ingest.process_started", pid=proc.pid, ops=f"http://127.0.0.1:{port}")
        peer = OpsPeer("ingest", f"http://127.0.0.1:{port}")
        status.peers.append(peer)
        try:
            await _until_exit_or_stop(proc.sentinel, stop)
        finally:
            status.peers.remove(peer)
            code = await _stop(proc)
        if not stop.is_set():
            raise ChildFailed(f"the ingest process exited with code {code}")

    return run


def _child_main(settings: Settings, feeds: list[FeedConfig]) -> None:
    from monitor.ingest import parsepool
    from monitor.logging import configure_logging
    from monitor.shell.runner import run_main

    configure_logging(settings.log)
    try:
        asyncio.run(run_main(settings, feeds, only=["ingest"]))
    finally:
        # A child process joins its own children on exit, and idle parse workers wait for work forever.
        parsepool.shutdown()


async def _until_exit_or_stop(sentinel: int, stop: asyncio.Event) -> None:
    """Return when the process behind `sentinel` exits or `stop` is set, whichever comes first."""
    loop = asyncio.get_running_loop()
    exited: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(sentinel, on_exit)
    stopping: asyncio.Future[None] = asyncio.ensure_future(_wait(stop))
    try:
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(sentinel)
        stopping.cancel()


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def _stop(proc: multiprocessing.process.BaseProcess) -> int | None:
    """Ask the child to drain (SIGTERM) and wait for it; kill it after `STOP_GRACE_S`. Return its exit code."""
    if proc.is_alive():
        proc.terminate()
        await asyncio.to_thread(proc.join, STOP_GRACE_S)
    if proc.is_alive():
        log.error("ingest.process_killed", pid=proc.pid, grace_s=STOP_GRACE_S)
        proc.kill()
        await asyncio.to_thread(proc.join)
    code = proc.exitcode
    level = log.info if code in (0, -signal.SIGTERM) else log.error
    level("ingest.process_stopped", pid=proc.pid, exit_code=code)
    return code
