"""Our worker-process pools: spawned, and each worker leaves Ctrl-C to its parent and exits when the parent is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_PARENT_CHECK_S = 1.0


def init_worker() -> None:
    """Ignore SIGINT (it reaches the whole process group; the parent decides when workers stop) and watch the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    # A pool worker holds both ends of its task pipe, so a killed parent would leave it waiting forever.
    while True:
        time.sleep(_PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)


def spawn_pool(workers: int, initializer: Callable[..., None] | None = None, *args: Any) -> ProcessPoolExecutor:
    """A pool of `workers` spawned processes (a fork would copy the event loop), each running init_worker first."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(initializer, *args),
    )


def _start_worker(initializer: Callable[..., None] | None, *args: Any) -> None:
    init_worker()
    if initializer is not None:
        initializer(*args)
