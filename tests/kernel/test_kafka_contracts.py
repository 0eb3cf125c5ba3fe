"""Every message type survives a produce/consume round trip through the real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from monitor.messages import (
    Alert,
    AlertState,
    ClassifiedItem,
    Contribution,
    DeadLetter,
    Delivery,
    FeedRegistration,
    FeedState,
    Place,
    RawItem,
    ShadowAlert,
    Story,
    StoryMember,
    StorySignature,
    decode,
    encode,
    encode_key,
)
from monitor.settings import KafkaSettings, Settings
from monitor.stream.clients import make_producer
from monitor.topics import topic_specs
from tests.support.kafka import produce_one, read_topic


async def test_round_trip_of_each_message_type(settings: Settings) -> None:
    now = datetime.now(UTC)
    raw = RawItem(id="id-1", feed_id="f", feed_url="https://f.example/rss", source="F", url="https://f.example/1",
                  title="Rebels claim border village", summary="Fighters crossed overnight.", published=now,
                  fetched_at=now, lang="en", categories=["World"], content_hash="c1")  # fmt: skip
    classified = ClassifiedItem(
        item=raw, scores={"cross_border_incident": 0.97, "election": 0.81},
        labels=["cross_border_incident", "election"], model="m-1",
        places=[Place(code="RU", name="Belgorod", kind="region")],
        explanation={"election": [Contribution(feature="w:vote", weight=1.5)]},
    )  # fmt: skip
    samples = {
        "RawItem": raw,
        "ClassifiedItem": classified,
        "Alert": Alert(event_id="e1", rule_id="r1", sinks=["slack"], item=classified, reasons=["label"]),
        "ShadowAlert": ShadowAlert(event_id="e1", rule_id="r1", kind="rule", item=classified, reasons=["label"]),
        "Delivery": Delivery(event_id="e1", sink="slack", attempt=1, status="delivered", latency_ms=12.5),
        "DeadLetter": DeadLetter(
            source_topic="news.raw", source_key="k", reason="bad", error_class="bad_input", payload="{}"
        ),
        "FeedState": FeedState(feed_id="f", url="https://f.example/rss", subscribed_at=now, seen={"id-1": "c1"}),
        "AlertState": AlertState(event_id="e1", rule_id="r1", item_id="id-1", first_matched_at=now),
        "Story": Story(
            story_id="s1",
            first_seen=now,
            last_seen=now,
            headline="Rebels claim border village",
            member_count=1,
            members=[StoryMember(item_id="id-1", outlet="F", domain="f.example", lang="en", published=now)],
            domains=["f.example"],
            places=[Place(code="RU", name="Belgorod", kind="region")],
            labels=["cross_border_incident"],
            signatures=["AAAAAA=="],
        ),
        "StorySignature": StorySignature(story_id="s1", slot=0, signature="AAAAAA=="),
        "FeedRegistration": FeedRegistration(
            feed_id="f", feed={"url": "https://f.example/rss", "id": "f"}, origin="cli", added_at=now, updated_at=now
        ),
    }
    specs = topic_specs(settings.topics)
    assert {s.message.__name__ for s in specs} == set(samples)
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        for spec in specs:
            msg = samples[spec.message.__name__]
            await producer.send_and_wait(spec.name, encode(msg), key=encode_key(msg))
    finally:
        await producer.stop()
    for spec in specs:
        records = await read_topic(settings.kafka.bootstrap_servers, spec.name, expect=1, idle_s=0.2)
        assert len(records) == 1, spec.name
        msg = samples[spec.message.__name__]
        assert records[0].key == encode_key(msg)
        assert decode(spec.message, records[0].value) == msg


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy", "gzip", "none"])
async def test_each_compression_setting_round_trips_through_the_broker(settings: Settings, codec: str) -> None:
    kafka = settings.kafka.model_copy(update={"compression": codec})
    topic = settings.topics.raw
    value = b'{"title": "' + b"border village " * 200 + b'"}'
    await produce_one(kafka, topic, value)
    records = await read_topic(kafka.bootstrap_servers, topic, expect=1, idle_s=0.2)
    assert [r.value for r in records] == [value]


def test_an_unknown_compression_is_refused() -> None:
    with pytest.raises(ValidationError, match="compression"):
        KafkaSettings(compression="brotli")  # type: ignore[arg-type]
