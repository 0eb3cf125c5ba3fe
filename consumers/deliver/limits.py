"""Pacing for sinks: a token bucket per destination, a circuit breaker per sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

Clock = Callable[[], float]


# aiolimiter's leaky bucket cannot pause a destination for its Retry-After nor say the wait before taking.
class TokenBucket:
    """`rate_per_s` messages per second with bursts of `burst`; rate 0 means no limit. Shared per destination."""

    def __init__(self, rate_per_s: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._paused_until = 0.0

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    def wait_s(self) -> float:
        """Seconds until a token could be taken (0 when one is available now)."""
        now = self._clock()
        pause = max(0.0, self._paused_until - now)
        if self.unlimited:
            return pause
        self._refill(now)
        need = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate
        return max(pause, need)

    def try_take(self) -> bool:
        if self.wait_s() > 0:
            return False
        if not self.unlimited:
            self._tokens -= 1
        return True

    async def take(self) -> None:
        """Wait for a token; the wait is computed, not polled, so waiting costs nothing."""
        while True:
            if self.try_take():
                return
            await asyncio.sleep(max(self.wait_s(), 0.001))

    def pause_for(self, seconds: float) -> None:
        """Send nothing to this destination for a while (it answered 429 with Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)


# pybreaker and purgatory wrap the call and fail fast; here a message waits for the circuit until a deadline.
class CircuitBreaker:
    """After `threshold` failures in a row the sink is left alone for `cooldown_s`; then one probe decides.

    While open, the sink's messages wait instead of hammering it; other sinks are unaffected.
    """

    def __init__(self, threshold: int, cooldown_s: float, clock: Clock = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.state = "closed"
        self.failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def try_acquire(self) -> str:
        """ "pass" when an attempt may start now, "probe" when it is the one trial of a half-open circuit, else ""."""
        if self.state == "closed":
            return "pass"
        if self._probing:
            return ""
        if self._clock() - self._opened_at >= self.cooldown_s:
            self.state = "half_open"
            self._probing = True
            return "probe"
        return ""

    async def acquire(self, deadline: float) -> str:
        """Wait until an attempt may start ("pass" or "probe"); "" when `deadline` (monotonic) passes first."""
        while not (granted := self.try_acquire()):
            now = self._clock()
            if now >= deadline:
                return ""
            cooling = self._opened_at + self.cooldown_s - now if not self._probing else deadline - now
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(0.001, min(cooling, deadline - now)))
            except TimeoutError:
                pass
        return granted

    def success(self) -> bool:
        """Count a success; True when it closed an open circuit."""
        changed = self.state != "closed"
        self.state, self.failures, self._probing = "closed", 0, False
        if changed:
            self._notify()
        return changed

    def failure(self) -> bool:
        """Count a failure; True when this one opened a closed circuit (a failed probe re-opens it quietly)."""
        self.failures += 1
        was = self.state
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state, self._opened_at, self._probing = "open", self._clock(), False
            self._notify()
        return was == "closed" and self.state == "open"

    def release(self) -> None:
        """The probe ended without a verdict (shutdown); let the next attempt probe at once."""
        if self._probing:
            self._probing = False
            self._opened_at = self._clock() - self.cooldown_s
            self.state = "open"
            self._notify()
