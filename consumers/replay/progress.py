"""Progress of a replay: a bar with rate and ETA on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Protocol

from tqdm import tqdm


class Progress(Protocol):
    def advance(self, n: int) -> None: ...

    def close(self) -> None: ...


class Silent:
    """No progress output (library use and tests)."""

    def advance(self, n: int) -> None:
        return None

    def close(self) -> None:
        return None


class Bar:
    """tqdm's bar, which shows the rate and the time left."""

    def __init__(self, total: int, out: IO[str]) -> None:
        self._bar = tqdm(total=total, unit="items", unit_scale=True, file=out, desc="replay")

    def advance(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


class Lines:
    """One line every `every_s` seconds: done, total, rate and time left, for logs that are not a terminal."""

    def __init__(self, total: int, out: IO[str], every_s: float = 5.0) -> None:
        self._total, self._out, self._every = total, out, every_s
        self._done = 0
        self._started = self._last = time.monotonic()

    def advance(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        rate = self._done / max(now - self._started, 1e-9)
        eta = (self._total - self._done) / rate if rate else 0.0
        pct = 100.0 * self._done / self._total if self._total else 100.0
        print(f"replay: {self._done}/{self._total} records ({pct:.0f}%), {rate:,.0f}/s, ETA {eta:.0f}s",
              file=self._out, flush=True)  # fmt: skip

    def close(self) -> None:
        self._line(time.monotonic())


def for_stream(total: int, out: IO[str] = sys.stderr) -> Progress:
    """A bar when `out` is a terminal, plain lines otherwise."""
    return Bar(total, out) if out.isatty() else Lines(total, out)
