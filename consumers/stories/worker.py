"""Where the story keeper runs: in a process of its own, so clustering takes a core of its own while the stage's
process consumes and produces, or in the stage's event loop. Values go in and encoded records come out, so little
crosses between the processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol, TypeVar

from consumers.stories.keeper import Batch, StoryKeeper
from monitor.messages import Story
from monitor.settings import StorySettings, TopicSettings
from monitor.stream.produce import Outgoing
from monitor.workers import spawn_pool

T = TypeVar("T")


class KeeperFailed(RuntimeError):
    """The keeper's process died: the stage stops, and a restart rebuilds the stories from their topics."""


class Keeping(Protocol):
    async def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
        """Reopen the stories read at start-up; return how many are open and the tombstones of those the window
        closed."""

    async def handle(self, values: Sequence[bytes | None]) -> Batch: ...

    def close(self) -> None: ...


class KeeperHere:
    """The keeper in the stage's event loop: one core for everything, and no second copy of the interpreter."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        self._keeper = StoryKeeper(topics, settings)

    async def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
        return _rebuilt(self._keeper, stories, signatures)

    async def handle(self, values: Sequence[bytes | None]) -> Batch:
        return self._keeper.handle(values)

    def close(self) -> None:
        return None


class KeeperProcess:
    """The keeper in a spawned process; the stage's loop produces one batch while the process assigns the next."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        self._pool: ProcessPoolExecutor | None = spawn_pool(1, _start, topics, settings)

    async def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
        opened, tombstones = await self._run(_rebuild, stories, signatures)
        return opened, tombstones

    async def handle(self, values: Sequence[bytes | None]) -> Batch:
        batch: Batch = await self._run(_handle, list(values))
        return batch

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            raise KeeperFailed("the story keeper's process was closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool as exc:
            raise KeeperFailed(f"the story keeper's process died: {exc}") from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def keeper_for(topics: TopicSettings, settings: StorySettings) -> Keeping:
    return KeeperProcess(topics, settings) if settings.own_process else KeeperHere(topics, settings)


def _rebuilt(
    keeper: StoryKeeper, stories: dict[str, Story], signatures: dict[str, list[str]]
) -> tuple[int, list[Outgoing]]:
    opened = keeper.rebuild(stories, signatures)
    return opened, keeper.take_tombstones()


# The keeper of this worker process, made by the pool's initializer.
_keeper: StoryKeeper | None = None


def _start(topics: TopicSettings, settings: StorySettings) -> None:
    global _keeper
    _keeper = StoryKeeper(topics, settings)


def _worker_keeper() -> StoryKeeper:
    if _keeper is None:
        raise KeeperFailed("the story keeper's process has no keeper")
    return _keeper


def _rebuild(stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
    return _rebuilt(_worker_keeper(), stories, signatures)


def _handle(values: list[bytes | None]) -> Batch:
    return _worker_keeper().handle(values)
