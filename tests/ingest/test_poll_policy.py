"""The polling policy's pure rules: intervals, backoff, server hints, learned publishing gaps and silence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from monitor.ingest import policy
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.formats.dtd import entity_hazard
from monitor.messages import FeedState
from monitor.settings import IngestSettings

T0 = datetime(2024, 3, 15, 6, 0, tzinfo=UTC)
S = IngestSettings()  # 60 s .. 3600 s, default 300 s, backoff up to 3600 s


def feed(**kw: object) -> FeedConfig:
    return FeedConfig.model_validate({"url": "https://news.example.org/rss", "id": "f", **kw})


def test_bounds_are_global_unless_the_feed_overrides_them() -> None:
    assert policy.bounds_for(feed(), S) == policy.Bounds(60.0, 3600.0, None, 0.0)
    b = policy.bounds_for(feed(min_interval_s=120, max_interval_s=900, silent_after_s=7200), S)
    assert (b.min_s, b.max_s, b.silent_after_s) == (120.0, 900.0, 7200.0)
    # A fixed interval is still kept inside the feed's bounds.
    assert policy.bounds_for(feed(interval_s=10), S).fixed_s == 60.0
    assert policy.bounds_for(feed(interval_s=10, min_interval_s=5), S).fixed_s == 10.0
    # A per-feed minimum above the global maximum raises the maximum with it.
    assert policy.bounds_for(feed(min_interval_s=7200), S).max_s == 7200.0


def test_feed_list_rejects_inverted_bounds() -> None:
    with pytest.raises(ValidationError, match="min_interval_s must not exceed"):
        feed(min_interval_s=600, max_interval_s=60)


def test_interval_is_a_fraction_of_the_learned_gap_within_bounds() -> None:
    b = policy.bounds_for(feed(), S)
    kw = {"fraction": 0.5, "default_s": 300.0}
    assert policy.poll_interval(b, 0.0, silent=False, **kw) == 300.0  # nothing learned yet
    assert policy.poll_interval(b, 1200.0, silent=False, **kw) == 600.0
    assert policy.poll_interval(b, 30.0, silent=False, **kw) == 60.0  # a burst feed stays at the floor
    assert policy.poll_interval(b, 86400.0, silent=False, **kw) == 3600.0
    assert policy.poll_interval(b, 1200.0, silent=True, **kw) == 3600.0  # a silent feed is polled rarely
    fixed = policy.bounds_for(feed(interval_s=120), S)
    assert policy.poll_interval(fixed, 1200.0, silent=True, **kw) == 120.0


def test_max_age_postpones_the_next_poll_up_to_the_maximum_interval() -> None:
    rng = random.Random(1)
    for _ in range(200):
        assert 285.0 <= policy.next_delay(300.0, None, 3600.0, rng) <= 315.0
        assert policy.next_delay(300.0, 1800.0, 3600.0, rng) == 1800.0
        assert policy.next_delay(300.0, 86400.0, 3600.0, rng) == 3600.0
        assert policy.next_delay(300.0, 10.0, 3600.0, rng) >= 285.0  # a short max-age does not speed polls up


@pytest.mark.parametrize(
    ("header", "age", "expected"),
    [
        ("public, max-age=600", None, 600.0),
        ("max-age=600, must-revalidate", "100", 500.0),
        ("max-age=60", "100", 0.0),
        ('max-age="120"', None, 120.0),
        ("no-cache", None, None),
        ("s-maxage=600", None, None),
        ("max-age=soon", None, None),
        (None, None, None),
    ],
)
def test_cache_control_max_age(header: str | None, age: str | None, expected: float | None) -> None:
    assert policy.cache_max_age(header, age) == expected


def test_content_failures_back_off_four_times_slower() -> None:
    rng = random.Random(4)
    fast = [policy.backoff_delay(1, base_s=60.0, max_s=3600.0, retry_after_s=None, slow=False, rng=rng)
            for _ in range(100)]  # fmt: skip
    slow = [policy.backoff_delay(1, base_s=60.0, max_s=3600.0, retry_after_s=None, slow=True, rng=rng)
            for _ in range(100)]  # fmt: skip
    assert max(fast) <= 72.0 and min(slow) >= 192.0


def test_retry_after_wins_but_is_capped_by_max_backoff() -> None:
    rng = random.Random(5)
    kw = {"base_s": 60.0, "max_s": 3600.0, "slow": False, "rng": rng}
    assert policy.backoff_delay(1, retry_after_s=900.0, **kw) == 900.0  # type: ignore[arg-type]
    assert policy.backoff_delay(1, retry_after_s=86400.0, **kw) == 3600.0  # type: ignore[arg-type]
    # The server's wait is a minimum: a longer backoff is kept.
    assert policy.backoff_delay(6, retry_after_s=5.0, **kw) >= 1920.0 * 0.8  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "status", "slow"),
    [
        (ErrorKind.TIMEOUT, None, False),
        (ErrorKind.DNS, None, False),
        (ErrorKind.CONNECT, None, False),
        (ErrorKind.HTTP_STATUS, 500, False),
        (ErrorKind.HTTP_STATUS, 503, False),
        (ErrorKind.HTTP_STATUS, 429, False),
        (ErrorKind.HTTP_STATUS, 404, True),
        (ErrorKind.HTTP_STATUS, 403, True),
        (ErrorKind.BLOCKED, 403, True),
        (ErrorKind.NOT_A_FEED, None, True),
        (ErrorKind.TOO_LARGE, None, True),
        (ErrorKind.PARSE, None, True),
        (ErrorKind.REDIRECT, None, True),
    ],
)
def test_which_failures_retry_slowly(kind: ErrorKind, status: int | None, slow: bool) -> None:
    assert FeedError(kind, "x", status=status).slow_retry is slow


def test_backlog_gives_a_first_estimate_of_the_publishing_gap() -> None:
    listed = [T0 - timedelta(minutes=15 * k) for k in range(9)]
    assert policy.backlog_gap(listed) == 900.0
    assert policy.backlog_gap([T0]) == 0.0
    assert policy.backlog_gap([T0, T0, T0]) == 0.0  # identical dates say nothing


def test_gap_follows_how_often_the_feed_publishes() -> None:
    """A fake clock: a feed publishing every 10 min, polled every 30 min, then speeding up to every 2 min."""
    gap, last = 0.0, T0
    now = T0
    for _ in range(12):
        now += timedelta(minutes=30)
        batch = [now - timedelta(minutes=10 * k) for k in range(3)]  # the three stories since the last poll
        gap, newest = policy.observe_new_items(gap, last, batch, smoothing=0.3)
        assert newest == now
        last = now
    assert gap == pytest.approx(600.0, rel=0.01)
    for _ in range(20):
        now += timedelta(minutes=10)
        batch = [now - timedelta(minutes=2 * k) for k in range(5)]
        gap, last_new = policy.observe_new_items(gap, last, batch, smoothing=0.3)
        assert last_new is not None
        last = last_new
    assert gap == pytest.approx(120.0, rel=0.01)
    b = policy.bounds_for(feed(), S)
    assert policy.poll_interval(b, gap, fraction=0.5, default_s=300.0, silent=False) == pytest.approx(60.0, rel=0.01)


def test_items_older_than_the_newest_seen_do_not_shrink_the_gap() -> None:
    gap, last = policy.observe_new_items(900.0, T0, [T0 - timedelta(hours=3)], smoothing=0.3)
    assert (gap, last) == (900.0, T0)
    gap, last = policy.observe_new_items(0.0, None, [T0], smoothing=0.3)
    assert (gap, last) == (0.0, T0)


def test_silence_after_several_expected_gaps_or_a_configured_period() -> None:
    kw = {"gaps": 4.0, "floor_s": 1800.0, "configured_s": 0.0}
    assert not policy.is_silent(2000.0, 600.0, **kw)
    assert policy.is_silent(2500.0, 600.0, **kw)  # 4 x 10 min
    assert not policy.is_silent(1500.0, 60.0, **kw)  # a burst feed still gets the floor
    assert policy.is_silent(1900.0, 60.0, **kw)
    assert not policy.is_silent(10**6, 0.0, **kw)  # nothing learned, nothing configured
    kw["configured_s"] = 7200.0
    assert not policy.is_silent(3000.0, 600.0, **kw)  # a configured period replaces the learned rule
    assert policy.is_silent(7300.0, 0.0, **kw)


def test_silence_with_a_fake_clock() -> None:
    """A feed publishing every 10 min stops: it turns silent after 40 min, and speaks again with its next item."""
    gap, last = 0.0, T0
    for k in range(1, 10):
        gap, newest = policy.observe_new_items(gap, last, [T0 + timedelta(minutes=10 * k)], smoothing=0.3)
        assert newest is not None
        last = newest
    flags = []
    for minutes in range(0, 60, 5):
        quiet = (last + timedelta(minutes=minutes) - last).total_seconds()
        flags.append(policy.is_silent(quiet, gap, gaps=4.0, floor_s=1800.0, configured_s=0.0))
    assert flags.index(True) == 9  # 45 min: the first check past 4 gaps
    assert not any(flags[:9]) and all(flags[9:])
    assert not policy.is_silent(0.0, gap, gaps=4.0, floor_s=1800.0, configured_s=0.0)


def test_feed_health_is_one_vocabulary_most_urgent_first() -> None:
    base = FeedState(feed_id="f", url="https://a.example/rss", subscribed_at=T0)
    health = policy.FeedHealth
    assert policy.feed_health(None, base.url) is health.NEVER_POLLED
    assert policy.feed_health(base, base.url) is health.NEVER_POLLED
    polled = base.model_copy(update={"last_attempt": T0, "last_success": T0})
    assert policy.feed_health(polled, base.url) is health.HEALTHY
    assert policy.feed_health(polled.model_copy(update={"silent": True}), base.url) is health.SILENT
    failing = polled.model_copy(update={"consecutive_errors": 2, "silent": True})
    assert policy.feed_health(failing, base.url) is health.FAILING
    disabled = failing.model_copy(update={"disabled_reason": "410 Gone"})
    assert policy.feed_health(disabled, base.url) is health.DISABLED
    assert policy.feed_health(disabled, "https://b.example/rss") is health.FAILING  # re-enabled by a new URL
    assert policy.feed_health(polled, base.url, enabled=False) is health.DISABLED


def test_entity_declarations_are_judged_by_what_they_expand_to() -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><rss/>'
    assert "other entities" in entity_hazard(laughs)
    assert not entity_hazard(b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "rss.dtd"><rss version="0.91"/>')
    # Raw markup about entities inside an article, after the prolog, is not a declaration.
    assert not entity_hazard(b"<rss><item><description><![CDATA[<!ENTITY x>]]></description></item></rss>")
    # A short literal, a character entity or an external one the parser never fetches: the feed stays readable.
    harmless = b'<!DOCTYPE rss [<!ENTITY id "tag:example.com,"><!ENTITY nbsp "&#160;">]><rss version="2.0"/>'
    assert not entity_hazard(harmless)
    assert not entity_hazard(b'<!DOCTYPE rdf:RDF [<!ENTITY % lat1 PUBLIC "-//W3C//ENTITIES" "x.ent">%lat1;]><r/>')
    # A flat literal is refused once its references would add more than the allowed growth.
    big = b'<!DOCTYPE rss [<!ENTITY big "' + b"x" * 10_000 + b'">]><rss>'
    assert not entity_hazard(big + b"&big;" * 20 + b"</rss>")
    assert "grow" in entity_hazard(big + b"&big;" * 30 + b"</rss>")
