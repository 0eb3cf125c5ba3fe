"""A feed's state always fits in one Kafka message, and a state that cannot be written never repeats items."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from monitor.ingest.errors import ErrorKind
from monitor.ingest.feeds import FeedConfig
from monitor.messages import FeedState, SeenItems, encode
from monitor.settings import IngestSettings, Settings
from tests.ingest.test_hostile_feeds import PollerFor, raw_items, states
from tests.support.feeds import FeedServer, rss

DAYS = [datetime(2024, 1, 1 + d, tzinfo=UTC).strftime("%a") for d in range(28)]


def stories(n: int) -> list[tuple[str, str, str]]:
    return [(f"story-{i}", f"Story number {i}", f"Body of story {i}.") for i in range(n)]


def test_the_largest_feed_state_fits_in_a_kafka_message() -> None:
    """Seen items at their cap and every other field at its bound still encode under the broker's 1 MiB."""
    cap = IngestSettings.model_fields["max_items_per_feed"].metadata
    most = max(getattr(m, "le", 0) or 0 for m in cap)
    now = datetime.now(UTC)
    long = "x" * 8190  # aiohttp refuses longer header lines: the most an ETag or a redirect target can carry
    state = FeedState(
        feed_id="f" * 100, url="https://x.example/" + "a" * 2048, subscribed_at=now, etag=long, last_modified=long,
        effective_url=long, last_error="e" * 500, last_error_kind="state_write", disabled_reason="d" * 200,
        error_counts={k.value: 10**9 for k in ErrorKind},
        seen=SeenItems((f"{i:032x}", f"{i:016x}") for i in range(most)),
    )  # fmt: skip
    assert len(encode(state)) < 1_000_000


def _patient(settings: Settings, **ingest: object) -> Settings:
    """Settings whose parse timeout leaves room for a few hundred items on a busy machine."""
    return settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"total_timeout_s": 60.0, **ingest})}
    )


async def _limit_state_topic(settings: Settings, max_bytes: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, settings.topics.feed_state,
                                  configs={"max.message.bytes": str(max_bytes)})  # fmt: skip
        await admin.alter_configs([resource])
    finally:
        await admin.close()


async def test_a_state_the_broker_refuses_is_a_failure_with_backoff_and_items_are_not_produced_again(
    settings: Settings, feed_server: FeedServer
) -> None:
    # The broker refuses this feed's state (its seen set of 300 ids), but takes every item.
    await _limit_state_topic(settings, 4000)
    feed = FeedConfig(id="big", url=feed_server.set("/big", rss(stories(300))))
    async with PollerFor(_patient(settings)) as poller:
        delays = []
        for attempt in (1, 2, 3):
            outcome = await poller.poll(feed)
            assert outcome.kind == "failed" and outcome.error is not None
            assert outcome.error.kind is ErrorKind.STATE_WRITE
            state = poller.state_of(feed)
            assert state is not None and state.consecutive_errors == attempt
            assert state.last_error_kind == "state_write" and len(state.seen) == 300
            assert state.next_poll_at is not None and state.last_attempt is not None
            delays.append((state.next_poll_at - state.last_attempt).total_seconds())
    assert delays[2] > delays[0]  # backing off, not retrying at the same pace
    assert len(await raw_items(settings, expect=300)) == 300


async def test_a_feed_listing_more_items_than_the_cap_keeps_its_newest_and_never_loops(
    settings: Settings, feed_server: FeedServer, tmp_path: Path
) -> None:
    capped = _patient(settings, max_items_per_feed=50)
    # Each story has its own date, and the newest are spread through the document.
    items = "".join(
        f"<item><guid>s{i}</guid><title>Story number {i}</title>"
        f"<pubDate>{DAYS[i % 28]}, {1 + i % 28:02d} Jan 2024 {i % 24:02d}:00:00 GMT</pubDate></item>"
        for i in range(120)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Long</title>{items}</channel></rss>'
    feed = FeedConfig(id="long", url=feed_server.set("/long", body.encode()))
    async with PollerFor(capped) as poller:
        first = await poller.poll(feed)
        second = await poller.poll(feed)
    assert (first.listed, first.produced, second.produced) == (50, 50, 0)
    expected = sorted(range(120), key=lambda i: (1 + i % 28, i % 24), reverse=True)[:50]
    produced = await raw_items(capped, expect=50)
    assert sorted(int(i.title.rsplit(" ", 1)[1]) for i in produced) == sorted(expected)
    assert len((await states(capped))["long"].seen) == 50
