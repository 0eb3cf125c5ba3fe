"""Helpers shared by the benchmarks: a throwaway local broker and a quiet environment for child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from monitor.broker.local import LocalBroker, free_port
from monitor.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def throwaway_broker() -> Iterator[LocalBroker]:
    """A real single-node broker on free loopback ports with its data in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as tmp:
        ks = KafkaSettings(port=free_port(), controller_port=free_port(), dist_dir=REPO / ".cache" / "kafka")
        broker = LocalBroker(ks, Path(tmp))
        broker.start()
        try:
            asyncio.run(broker.wait_ready())
            yield broker
        finally:
            broker.stop()


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(extra)
    return env


def median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
