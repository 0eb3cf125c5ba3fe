"""Readiness: named conditions each stage reports into; the process is ready when every one of them holds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    """One condition of readiness, owned by the stage that reports it."""

    name: str
    ok: bool = False
    detail: str = "starting"
    since: float = field(default_factory=time.time)

    def up(self, detail: str = "") -> None:
        self._set(True, detail)

    def down(self, detail: str) -> None:
        self._set(False, detail)

    def _set(self, ok: bool, detail: str) -> None:
        if ok != self.ok:
            self.since = time.time()
        self.ok, self.detail = ok, detail


class Readiness:
    """The checks of one process, registered by name; ready only when there are some and all of them hold."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def require(self, name: str) -> Check:
        """The check of this name, registered (not ready) on first use."""
        return self._checks.setdefault(name, Check(name))

    def ready(self) -> bool:
        return bool(self._checks) and all(c.ok for c in self._checks.values())

    def report(self) -> dict[str, Any]:
        """Whether the process is ready and why, as the `/readyz` body."""
        checks = {c.name: {"ok": c.ok, "detail": c.detail, "since": round(c.since, 3)} for c in self._checks.values()}
        return {"ready": self.ready(), "checks": checks}
