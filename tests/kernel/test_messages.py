"""Message contracts: encoding is lossless and strict about versions (pure functions, no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.messages import (
    ClassifiedItem,
    ClassifiedView,
    DecodeError,
    FeedState,
    ItemView,
    Place,
    RawItem,
    SeenItems,
    decode,
    decode_view,
    encode,
)


def raw(**kw: object) -> RawItem:
    base: dict[str, object] = {"id": "abc", "feed_id": "f", "feed_url": "https://x.example/f", "source": "X",
                               "title": "T", "published": datetime(2024, 3, 15, 9, 40, tzinfo=UTC),
                               "fetched_at": datetime(2024, 3, 15, 9, 41, 2, 123456, tzinfo=UTC),
                               "content_hash": "h"}  # fmt: skip
    base.update(kw)
    return RawItem.model_validate(base)


def test_dates_are_serialized_in_utc_with_z() -> None:
    item = raw(published=datetime(2024, 3, 15, 12, 40, tzinfo=timezone(timedelta(hours=3))))
    assert b'"published":"2024-03-15T09:40:00.000000Z"' in encode(item)
    assert decode(RawItem, encode(item)) == item


def test_newer_schema_version_is_rejected() -> None:
    data = encode(raw()).replace(b'"schema_version":2', b'"schema_version":3')
    with pytest.raises(DecodeError, match="schema_version"):
        decode(RawItem, data)


def test_a_raw_item_of_version_1_reads_as_an_outlet_and_the_tier_is_written() -> None:
    old = encode(raw()).replace(b'"schema_version":2', b'"schema_version":1').replace(b',"tier":"outlet"', b"")
    assert b"tier" not in old and decode(RawItem, old).tier == "outlet"
    wire = raw(tier="wire")
    assert b'"tier":"wire"' in encode(wire) and decode(RawItem, encode(wire)) == wire


def test_garbage_is_a_decode_error() -> None:
    for bad in (b"not json", b"{}", b'{"id": 3}', None):
        with pytest.raises(DecodeError):
            decode(RawItem, bad)


def test_unknown_label_is_rejected() -> None:
    with pytest.raises(DecodeError):
        decode(
            ClassifiedItem,
            b'{"item": ' + encode(raw()) + b', "scores": {}, "labels": ["sports"], "model": "m"}',
        )


def classified(item: RawItem) -> ClassifiedItem:
    return ClassifiedItem(item=item, scores={"election": 0.75, "cross_border_incident": 0.125}, labels=["election"],
                          model="m", places=[Place(code="PL", name="Poland", kind="city")])  # fmt: skip


def test_a_view_reads_the_same_fields_as_the_whole_message() -> None:
    whole = classified(raw(summary="S", url="https://x.example/1", lang="de", backfill=True, title_derived=True))
    view = decode_view(ClassifiedView, encode(whole))
    it = whole.item
    assert (view.item.id, view.item.feed_id, view.item.source, view.item.title, view.item.url) == (
        it.id, it.feed_id, it.source, it.title, it.url)  # fmt: skip
    assert (view.item.summary, view.item.lang, view.item.backfill, view.item.title_derived) == ("S", "de", True, True)
    assert (view.scores, view.labels) == (whole.scores, whole.labels)
    assert [(p.code, p.name, p.kind) for p in view.places] == [("PL", "Poland", "city")]
    assert decode_view(ItemView, encode(it)).schema_version == RawItem.SCHEMA_VERSION


def test_a_view_refuses_what_decode_refuses() -> None:
    good = encode(classified(raw()))
    newer = json.dumps(json.loads(good) | {"schema_version": ClassifiedItem.SCHEMA_VERSION + 1}).encode()
    bad = (None, b"not json", b"{}", good.replace(b'"id":"abc"', b'"id":""'),
           good.replace(b'"title":"T"', b'"title":3'), good.replace(b'["election"]', b'["sports"]'), newer)  # fmt: skip
    for value in bad:
        with pytest.raises(DecodeError):
            decode(ClassifiedItem, value)
        with pytest.raises(DecodeError, match="ClassifiedItem"):
            decode_view(ClassifiedView, value)


ID_A, ID_B = "0f" * 16, "a1" * 16
HASH_A, HASH_B = "0123456789abcdef", "fedcba9876543210"


def test_seen_items_pack_the_pollers_ids_and_keep_anything_else() -> None:
    pairs = {ID_B: HASH_B, ID_A: HASH_A, "id-1": "c1", "AB" * 16: HASH_A, ID_A[:-1] + " ": HASH_B}
    seen = SeenItems(pairs)
    assert seen == pairs and dict(seen) == pairs and len(seen) == len(pairs)
    assert seen[ID_A] == HASH_A and seen.get(ID_B) == HASH_B and seen["AB" * 16] == HASH_A
    assert "b2" * 16 not in seen and seen.get("b2" * 16) is None and seen.get("", "x") == "x"
    with pytest.raises(KeyError):
        seen["b2" * 16]
    assert SeenItems([(ID_A, HASH_A), (ID_A, "c1"), (ID_B, "x"), (ID_B, HASH_B)]) == {ID_A: "c1", ID_B: HASH_B}


def test_seen_items_pairs_are_those_of_their_ids_in_iteration_order() -> None:
    pairs = {ID_B: HASH_B, "id-1": "c1", ID_A: HASH_A}
    seen = SeenItems(pairs)
    assert list(seen.items()) == [(i, seen[i]) for i in seen] == [(ID_A, HASH_A), (ID_B, HASH_B), ("id-1", "c1")]
    assert len(seen.items()) == 3 and (ID_B, HASH_B) in seen.items() and (ID_B, HASH_A) not in seen.items()


def test_seen_items_take_24_bytes_per_item() -> None:
    ids = [f"{n:032x}" for n in range(500)]
    seen = SeenItems((i, HASH_A) for i in reversed(ids))
    assert len(seen._packed) == 24 * 500 and seen._other is None
    assert all(seen[i] == HASH_A for i in ids) and list(seen) == ids


def test_feed_state_seen_keeps_its_wire_format() -> None:
    now = datetime(2024, 3, 15, 9, 40, tzinfo=UTC)
    pairs = {ID_B: HASH_B, ID_A: HASH_A, "id-1": "c1"}
    state = FeedState(feed_id="f", url="https://x.example/f", subscribed_at=now, seen=pairs)
    assert isinstance(state.seen, SeenItems)
    assert json.loads(encode(state))["seen"] == pairs
    assert state.model_dump()["seen"] == pairs
    # A record written before the packing, with the same object, reads back the same.
    old = json.dumps({"feed_id": "f", "url": "https://x.example/f", "subscribed_at": "2024-03-15T09:40:00Z",
                      "schema_version": 1, "seen": pairs}).encode()  # fmt: skip
    assert decode(FeedState, old) == state and decode(FeedState, encode(state)) == state
    with pytest.raises(DecodeError):
        decode(FeedState, old.replace(b'"c1"', b"3"))
