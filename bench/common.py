"""Helpers shared by the benchmarks: a throwaway local broker, a quiet environment for child processes, and the
webhook receiver and rules file of the benchmarks that measure alerts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from aiohttp import web

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


K = TypeVar("K")


class HookReceiver(Generic[K]):
    """A webhook that notes when each alert first arrived, by the key `key_of` finds in it (None: not counted)."""

    def __init__(self, key_of: Callable[[dict[str, Any]], K | None], clock: Callable[[], float]) -> None:
        self.arrived: dict[K, float] = {}
        self.requests = 0
        self.port = 0
        self._key_of, self._clock = key_of, clock
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        now = self._clock()
        self.requests += 1
        for a in doc["alerts"]:
            key = self._key_of(a)
            if key is not None:
                self.arrived.setdefault(key, now)
        return web.Response(text="ok")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def write_hook_rules(tmp: Path, hook: str, rule: dict[str, Any]) -> Path:
    """A rules file sending `rule`'s alerts to one signed webhook at `hook`; return its path."""
    (tmp / "secret").write_text("bench-secret-" + "0" * 32)  # the webhook sink refuses keys under 32 bytes
    sink = {"type": "webhook", "url": hook, "key_id": "k1", "secret_file": str(tmp / "secret"), "concurrency": 32}
    rules = {"version": 1, "sinks": {"hook": sink}, "rules": [{**rule, "sinks": ["hook"]}]}
    (tmp / "rules.yaml").write_text(yaml.safe_dump(rules))
    return tmp / "rules.yaml"
