"""When to try again after a failure: a server's Retry-After, jittered exponential backoff, and how the two combine.

Shared by the feed fetcher and the alert sinks; pure functions, so callers pass the time and the random source.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Past this many doublings every base is far beyond any cap; stops 2**n from overflowing a float.
_MAX_DOUBLINGS = 40


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header, per RFC 9110: whole seconds or an HTTP date; None otherwise.

    A fraction such as "1.5" is not delay-seconds, so it reads as no header at all and the caller's backoff applies.
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# tenacity's wait_exponential_jitter computes a similar wait, but only inside tenacity's own retry loop; here the
# wait is stored in a feed's state or spent while a sink's rate limit pauses, so the formula stands alone.
def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """The wait after failed attempt `attempt` (1-based): `base_s` doubling each time, ±20% jitter, at most `cap_s`."""
    raw = base_s * 2.0 ** min(max(0, attempt - 1), _MAX_DOUBLINGS)
    if raw >= cap_s:
        # At the cap jitter only goes down, so callers that failed together do not retry together.
        return cap_s * rng.uniform(0.8, 1.0)
    return min(cap_s, raw * rng.uniform(0.8, 1.2))


def wait_s(backoff: float, retry_after_s: float | None, cap_s: float) -> float:
    """The wait to use: the server's Retry-After (at most `cap_s`) is a minimum, a longer backoff is kept."""
    if retry_after_s is None:
        return backoff
    return max(backoff, min(retry_after_s, cap_s))
