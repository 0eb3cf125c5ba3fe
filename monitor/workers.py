"""What every worker process of ours does first: leave Ctrl-C to its parent and exit when the parent is gone."""

from __future__ import annotations

import os
import signal
import threading
import time

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
