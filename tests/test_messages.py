"""Message contracts: encoding is lossless and strict about versions (pure functions, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.messages import ClassifiedItem, DecodeError, RawItem, decode, encode


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
    data = encode(raw()).replace(b'"schema_version":1', b'"schema_version":2')
    with pytest.raises(DecodeError, match="schema_version"):
        decode(RawItem, data)


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
