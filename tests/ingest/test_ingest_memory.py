"""The pollers' per-feed memory: shared fields-sets of kept states and the feed loops' stop signals (no broker)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from monitor.ingest.scheduler import _Stop
from monitor.ingest.state import compact
from monitor.messages import FeedState, decode, encode

T0 = datetime(2024, 3, 15, 9, 40, tzinfo=UTC)


def test_compacted_states_share_one_fields_set_and_stay_equal() -> None:
    a = decode(FeedState, encode(FeedState(feed_id="a", url="https://a.example/f", subscribed_at=T0,
                                           seen={"0f" * 16: "0123456789abcdef"})))  # fmt: skip
    b = FeedState(feed_id="b", url="https://b.example/f", subscribed_at=T0)
    ca, cb = compact(a), compact(b)
    assert ca == a and cb == b and encode(ca) == encode(a)
    assert ca.__pydantic_fields_set__ is cb.__pydantic_fields_set__ and compact(ca) is ca
    shared = set(ca.__pydantic_fields_set__)
    later = ca.model_copy(update={"last_attempt": T0 + timedelta(seconds=1), "etag": "x"})
    assert later.last_attempt == T0 + timedelta(seconds=1) and later.seen == a.seen
    assert ca.__pydantic_fields_set__ == shared and ca.last_attempt is None


async def test_stop_wait_times_out_is_woken_by_set_and_forgets_its_waiters() -> None:
    stop = _Stop()
    started = time.monotonic()
    assert await stop.wait(0.05) is False
    assert time.monotonic() - started >= 0.04 and stop._waiters is None
    waiters = [asyncio.create_task(stop.wait(60)), asyncio.create_task(stop.wait())]
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True]
    assert stop._waiters is None and await stop.wait(60) is True


async def test_a_cancelled_stop_wait_leaves_nothing_behind() -> None:
    stop = _Stop()
    task = asyncio.create_task(stop.wait(60))
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and stop._waiters is None
    stop.set()
    assert stop.is_set()
