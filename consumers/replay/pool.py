"""Judging batches across worker processes (each loads the rules and model once), or in a thread with one judge."""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from consumers.replay.judge import Judge, Judgement, JudgeSpec
from monitor.workers import spawn_pool

# The judge of this worker process, built by the pool initializer, or why it could not be.
_worker_judge: Judge | None = None
_worker_error = ""


class JudgingError(RuntimeError):
    """The worker processes could not start or died; the replay stops rather than report on part of the range."""


def _init_worker(spec: JudgeSpec) -> None:
    global _worker_judge, _worker_error
    try:
        _worker_judge = Judge(spec)
    except Exception as exc:  # reported by the first task, which the parent awaits, instead of a broken pool
        _worker_error = f"{type(exc).__name__}: {exc}"


def _judge_in_worker(values: list[bytes | None], first: int = 0) -> Judgement:
    if _worker_judge is None:
        raise JudgingError(f"replay worker could not start: {_worker_error}")
    return _worker_judge(values, first)


class Judging:
    """Judges batches with `workers` processes, or in a thread when workers is 1; results keep the input order."""

    def __init__(self, spec: JudgeSpec, judge: Judge, workers: int) -> None:
        self._spec = spec
        self._judge = judge
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        if self.workers <= 1:
            return
        self._pool = spawn_pool(self.workers, _init_worker, self._spec)
        loop = asyncio.get_running_loop()
        try:
            # Every worker builds its judge before the first batch, so a failure stops the replay at once.
            await asyncio.gather(
                *[loop.run_in_executor(self._pool, _judge_in_worker, []) for _ in range(self.workers * 2)]
            )
        except (BrokenProcessPool, JudgingError) as exc:
            self.close()
            raise JudgingError(str(exc)) from exc

    async def __call__(self, values: list[bytes | None]) -> Judgement:
        if self._pool is None:
            return await asyncio.to_thread(self._judge, values)
        size = math.ceil(len(values) / self.workers)
        loop = asyncio.get_running_loop()
        chunks = [(values[i : i + size], i) for i in range(0, len(values), size)]
        try:
            parts = await asyncio.gather(*[loop.run_in_executor(self._pool, _judge_in_worker, *c) for c in chunks])
        except BrokenProcessPool as exc:
            raise JudgingError(f"a replay worker died: {exc}") from exc
        out = Judgement()
        for part in parts:
            out.items.extend(part.items)
            out.bad.extend(part.bad)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
