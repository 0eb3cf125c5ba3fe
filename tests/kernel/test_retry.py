"""The one retry policy shared by the fetcher and the sinks: Retry-After read per RFC 9110, jittered backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from monitor import retry

T0 = datetime(2024, 3, 15, 6, 0, tzinfo=UTC)


def test_retry_after_as_seconds_or_http_date() -> None:
    assert retry.parse_retry_after("120", T0) == 120.0
    assert retry.parse_retry_after(" 7 ", T0) == 7.0
    assert retry.parse_retry_after("0", T0) == 0.0
    assert retry.parse_retry_after("Fri, 15 Mar 2024 06:05:00 GMT", T0) == 300.0
    assert retry.parse_retry_after("Fri, 15 Mar 2024 05:00:00 GMT", T0) == 0.0  # already past


@pytest.mark.parametrize("bad", ["", None, "soon", "-5", "1.5", "1e3", "+3", "٣"])
def test_retry_after_that_is_not_whole_seconds_or_a_date_is_ignored(bad: str | None) -> None:
    # RFC 9110 10.2.3: delay-seconds is a non-negative decimal integer; anything else is unreadable, and the
    # caller's own backoff applies as if the header were absent.
    assert retry.parse_retry_after(bad, T0) is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    rng = random.Random(3)
    for attempt, nominal in [(1, 60.0), (2, 120.0), (3, 240.0), (6, 1920.0)]:
        delays = [retry.backoff_s(attempt, 60.0, 3600.0, rng) for _ in range(300)]
        assert min(delays) >= nominal * 0.8 and max(delays) <= nominal * 1.2
        assert max(delays) - min(delays) > nominal * 0.2, "delays must be jittered"
    capped = [retry.backoff_s(30, 60.0, 3600.0, rng) for _ in range(300)]
    assert max(capped) <= 3600.0 and min(capped) >= 2880.0
    assert len({round(d) for d in capped}) > 50, "callers that fail together must not retry together"
    assert retry.backoff_s(10**6, 1.0, 30.0, rng) <= 30.0, "a huge attempt count must not overflow"


def test_retry_after_is_a_minimum_capped_by_the_callers_limit() -> None:
    assert retry.wait_s(60.0, 900.0, 3600.0) == 900.0
    assert retry.wait_s(60.0, 86400.0, 3600.0) == 3600.0
    assert retry.wait_s(1920.0, 5.0, 3600.0) == 1920.0, "a longer backoff is kept"
    assert retry.wait_s(42.0, None, 3600.0) == 42.0
