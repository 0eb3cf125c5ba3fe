"""Polling policy as pure functions: when to poll a feed next, how often it publishes, when it has gone silent.

Nothing here does I/O or reads a clock; callers pass the times and a random source, so the rules are unit-tested.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from monitor import retry
from monitor.ingest.feeds import FeedConfig
from monitor.messages import FeedState
from monitor.settings import IngestSettings

# Failures whose cause is the content or the site's policy rather than the network: retried four times slower.
SLOW_RETRY_STEPS = 2


@dataclass(frozen=True, slots=True)
class Bounds:
    """A feed's polling bounds: the global ones unless its feed-list entry overrides them."""

    min_s: float
    max_s: float
    fixed_s: float | None = None  # an operator's fixed interval: no learning
    silent_after_s: float = 0.0  # a configured silence period; 0 means use the learned gap


def bounds_for(feed: FeedConfig, s: IngestSettings) -> Bounds:
    lo = feed.min_interval_s or s.min_interval_s
    hi = max(lo, feed.max_interval_s or s.max_interval_s)
    fixed = clamp(feed.interval_s, lo, hi) if feed.interval_s else None
    return Bounds(lo, hi, fixed, feed.silent_after_s or s.silent_after_s)


def clamp(value: float, lo: float, hi: float) -> float:
    return lo if value < lo else hi if value > hi else value


def poll_interval(b: Bounds, expected_gap_s: float, *, fraction: float, default_s: float, silent: bool) -> float:
    """Seconds between polls of a healthy feed: a fraction of its publishing gap, clamped to its bounds.

    A silent feed is polled at its maximum interval until it publishes again.
    """
    if b.fixed_s is not None:
        return b.fixed_s
    if silent:
        return b.max_s
    if expected_gap_s <= 0:
        return clamp(default_s, b.min_s, b.max_s)
    return clamp(expected_gap_s * fraction, b.min_s, b.max_s)


def interval_of(feed: FeedConfig, state: FeedState | None, s: IngestSettings) -> float:
    """The feed's current polling interval: the one its state learned, else fixed or the default, within bounds."""
    if state is not None and state.interval_s > 0 and state.url == feed.url:
        return state.interval_s
    bounds = bounds_for(feed, s)
    return poll_interval(bounds, 0.0, fraction=s.poll_fraction, default_s=s.default_interval_s, silent=False)


def disabled_reason_at(state: FeedState | None, configured_url: str) -> str:
    """Why the feed is disabled, or '' when it is not (a changed configured URL re-enables it)."""
    return state.disabled_reason if state is not None and state.url == configured_url else ""


def next_delay(interval_s: float, max_age_s: float | None, max_s: float, rng: random.Random) -> float:
    """The wait after a successful poll: the interval with ±5% jitter, postponed to the response's max-age."""
    delay = interval_s * rng.uniform(0.95, 1.05)
    if max_age_s is not None and max_age_s > delay:
        # A cached answer would not change before it expires, but never wait past the feed's maximum interval.
        delay = max(delay, min(max_age_s, max_s))
    return delay


def backoff_delay(
    errors: int, *, base_s: float, max_s: float, retry_after_s: float | None, slow: bool, rng: random.Random
) -> float:
    """The shared backoff from `base_s`, capped at `max_s`, starting later for slow failures; Retry-After wins."""
    delay = retry.backoff_s(errors + (SLOW_RETRY_STEPS if slow else 0), base_s, max_s, rng)
    return retry.wait_s(delay, retry_after_s, max_s)


def cache_max_age(cache_control: str | None, age: str | None = None) -> float | None:
    """Seconds a response stays fresh from `Cache-Control: max-age` minus `Age`; None without a usable max-age."""
    if not cache_control or "max-age" not in cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            value = value.strip().strip('"')
            if not value.isdigit():
                return None
            fresh = float(value)
            if age and age.strip().isdigit():
                fresh -= float(age.strip())
            return max(0.0, fresh)
    return None


def backlog_gap(times: Sequence[datetime]) -> float:
    """Mean spacing of the publication times a feed lists on its first poll; 0 when it cannot tell."""
    if len(times) < 2:
        return 0.0
    span = (max(times) - min(times)).total_seconds()
    return span / (len(times) - 1) if span > 0 else 0.0


def observe_new_items(
    expected_gap_s: float, last_new_at: datetime | None, times: Sequence[datetime], *, smoothing: float
) -> tuple[float, datetime | None]:
    """Fold one poll's new items into the publishing gap (an exponentially weighted mean).

    `times` are the new items' publication times (or first-seen times when undated). Only items later than the
    previous newest count, each batch as its mean gap, so a burst of several items reads as a short gap.
    """
    later = [t for t in times if last_new_at is None or t > last_new_at]
    if not later:
        return expected_gap_s, last_new_at
    newest = max(later)
    if last_new_at is None:
        return expected_gap_s, newest
    observed = (newest - last_new_at).total_seconds() / len(later)
    if expected_gap_s <= 0:
        return observed, newest
    return smoothing * observed + (1.0 - smoothing) * expected_gap_s, newest


def is_silent(quiet_s: float, expected_gap_s: float, *, gaps: float, floor_s: float, configured_s: float) -> bool:
    """Whether a feed quiet for `quiet_s` counts as silent.

    A configured period replaces the learned rule; the learned rule is `gaps` expected gaps, never under `floor_s`,
    and needs a learned gap at all.
    """
    if configured_s > 0:
        return quiet_s > configured_s
    if expected_gap_s <= 0:
        return False
    return quiet_s > max(gaps * expected_gap_s, floor_s)


class FeedHealth(StrEnum):
    """A feed's health: the one vocabulary of `newsmon feeds health` and the `newsmon_feeds` metric, urgent first."""

    FAILING = "failing"
    DISABLED = "disabled"
    SILENT = "silent"
    NEVER_POLLED = "never_polled"
    HEALTHY = "healthy"


def feed_health(state: FeedState | None, configured_url: str, *, enabled: bool = True) -> FeedHealth:
    """The feed's health from its latest state; a disabled reason stands only for the URL it was found at."""
    if not enabled or disabled_reason_at(state, configured_url):
        return FeedHealth.DISABLED
    if state is None or state.last_attempt is None:
        return FeedHealth.NEVER_POLLED
    if state.consecutive_errors:
        return FeedHealth.FAILING
    if state.silent:
        return FeedHealth.SILENT
    return FeedHealth.HEALTHY if state.last_success is not None else FeedHealth.NEVER_POLLED
