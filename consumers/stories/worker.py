"""Where the story keeper runs: in a process of its own, so clustering takes a core of its own while the stage's
process consumes and produces, or in the stage's event loop. This process reads and signs each batch and makes the
records of its items; the keeper assigns them and keeps the stories' records. Values and signatures go in and
encoded records come out, so little crosses between the processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import numpy as np

from consumers.stories.keeper import Assigned, Batch, Read, StoryKeeper, finish, read
from monitor.messages import Story
from monitor.settings import StorySettings, TopicSettings
from monitor.stream.produce import Outgoing
from monitor.workers import spawn_pool

T = TypeVar("T")


class KeeperFailed(RuntimeError):
    """The keeper's process died: the stage stops, and a restart rebuilds the stories from their topics."""


class Keeping:
    """Where the keeper runs; a batch is read and finished in this process either way."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        self._topics, self._num_perm = topics, settings.num_perm

    async def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
        """Reopen the stories read at start-up; return how many are open and the tombstones of those the window
        closed."""
        raise NotImplementedError

    def read(self, values: Sequence[bytes | None]) -> Read:
        """Decode and sign a batch of `news.classified` values, in this process."""
        return read(values, self._num_perm)

    async def assign(self, r: Read) -> Assigned:
        """Assign a batch read to stories, where the keeper runs."""
        return await self._assign(r.values, r.signatures)

    def finish(self, r: Read, a: Assigned) -> Batch:
        """Every record the batch produces, made in this process."""
        return finish(self._topics, r, a)

    async def _assign(self, values: list[bytes], signatures: np.ndarray) -> Assigned:
        raise NotImplementedError

    def close(self) -> None:
        return None


class KeeperHere(Keeping):
    """The keeper in the stage's event loop: one core for everything, and no second copy of the interpreter."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        super().__init__(topics, settings)
        self._keeper = StoryKeeper(topics, settings)

    async def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
        return _rebuilt(self._keeper, stories, signatures)

    async def _assign(self, values: list[bytes], signatures: np.ndarray) -> Assigned:
        return self._keeper.assign(values, signatures)


class KeeperProcess(Keeping):
    """The keeper in a spawned process: it assigns one batch while this process produces the one before and reads
    and signs the next."""

    def __init__(self, topics: TopicSettings, settings: StorySettings) -> None:
        super().__init__(topics, settings)
        self._pool: ProcessPoolExecutor | None = spawn_pool(1, _start, topics, settings)

    async def rebuild(self, stories: dict[str, Story], signatures: dict[str, list[str]]) -> tuple[int, list[Outgoing]]:
        opened, tombstones = await self._run(_rebuild, stories, signatures)
        return opened, tombstones

    async def _assign(self, values: list[bytes], signatures: np.ndarray) -> Assigned:
        return await self._run(_assign, values, signatures)

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


def _assign(values: list[bytes], signatures: np.ndarray) -> Assigned:
    return _worker_keeper().assign(values, signatures)
