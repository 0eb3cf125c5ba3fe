"""A poll answers with an outcome for failures as well as successes: its kind, when to poll again, why disabled."""

from __future__ import annotations

import pytest

from monitor.ingest.errors import ErrorKind
from monitor.ingest.feeds import FeedConfig
from monitor.settings import Settings
from tests.ingest.test_hostile_feeds import PollerFor
from tests.support.feeds import FeedServer, rss


async def test_a_failing_feed_answers_with_its_kind_and_delay(settings: Settings, feed_server: FeedServer) -> None:
    feed = FeedConfig(id="broken", url=feed_server.set("/broken", b"oops", status=500))
    async with PollerFor(settings) as poller:
        outcome = await poller.poll(feed)
        state = poller.state_of(feed)
    assert outcome.kind == "failed" and outcome.error is not None
    assert outcome.error.kind is ErrorKind.HTTP_STATUS and outcome.status == 500
    assert state is not None and state.next_poll_at is not None and state.last_attempt is not None
    assert outcome.next_poll_in_s == pytest.approx((state.next_poll_at - state.last_attempt).total_seconds())
    assert outcome.next_poll_in_s > 0 and outcome.disabled_reason == ""


async def test_a_gone_feed_answers_disabled_with_its_reason(settings: Settings, feed_server: FeedServer) -> None:
    feed = FeedConfig(id="gone", url=feed_server.set("/gone", b"", status=410))
    async with PollerFor(settings) as poller:
        outcome = await poller.poll(feed)
    assert outcome.kind == "disabled" and outcome.disabled_reason == "410 Gone"


async def test_a_good_feed_answers_fetched_with_its_next_poll(settings: Settings, feed_server: FeedServer) -> None:
    feed = FeedConfig(
        id="good",
        url=feed_server.set(
            "/good", rss([("a", "A story", "Body.")]), headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"}
        ),
    )
    async with PollerFor(settings) as poller:
        first = await poller.poll(feed)
    assert first.kind == "fetched" and first.error is None and first.next_poll_in_s > 0
