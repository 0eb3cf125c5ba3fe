"""Faults against the running pipeline, one after another: crashes, graceful stops, a broker crash, a scale-out with
losses, a burst, a webhook outage and rate limiting. Each is counted at the signed-webhook receiver."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from monitor.broker.local import LocalBroker
from monitor.messages import ClassifiedItem, RawItem, decode
from tests.support.kafka import group_caught_up, read_topic
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for, wait_until
from tests.system.farm import Story, ticking
from tests.system.pipeline import STAGES, Pipeline, delivered_titles, groups, write_feeds
from tests.system.scoreboard import Row, Scoreboard, count

# Generous: two cores shared with the broker and every stage; the waits end on the signal, not the timeout.
SETTLE_S = 120.0


async def caught_up(pipe: Pipeline) -> bool:
    """Whether every consuming stage has committed its input topic to the end: nothing is left in flight."""
    t, g, bootstrap = pipe.settings.topics, groups(pipe.settings), pipe.settings.kafka.bootstrap_servers
    inputs = {"classify": t.raw, "alert": t.classified, "deliver": t.alerts}
    for stage, topic in inputs.items():
        if not await group_caught_up(bootstrap, g[stage], topic):
            return False
    return True


def first_delivery_after(receiver: Receiver, stories: list[Story], since: float) -> float | None:
    """When the first alert of a story published after `since` reached the receiver."""
    fresh = {s.title for s in stories if s.alerts and s.at > since}
    times = [receiver.first_seen[e] for t, eids in delivered_titles(receiver).items() if t in fresh for e in eids]
    return min(times) if times else None


async def through_fault(
    pipe: Pipeline, name: str, fault: Callable[[], Awaitable[None]], heal: Callable[[], Awaitable[None]]
) -> Row:
    """Run `fault` mid-stream, let stories arrive meanwhile, `heal`, and count once everything is through."""
    async with ticking(pipe.farm) as published:
        before = len(delivered_titles(pipe.receiver))
        assert await wait_for(lambda: len(delivered_titles(pipe.receiver)) >= before + 3, timeout_s=SETTLE_S), (
            pipe.tail()
        )
        fault_at = time.monotonic()
        await fault()
        # Stories keep arriving while the stage is down.
        n = len(published)
        await wait_for(lambda: len(published) >= n + 6, timeout_s=10)
        await heal()
        recovered = await wait_for(
            lambda: first_delivery_after(pipe.receiver, published, fault_at) is not None, timeout_s=SETTLE_S
        )
        assert recovered, f"{name}: nothing published after the fault was delivered\n{pipe.tail()}"
    assert await pipe.delivered(published, SETTLE_S), pipe.tail()
    assert await wait_until(lambda: caught_up(pipe), timeout_s=SETTLE_S)
    at = first_delivery_after(pipe.receiver, published, fault_at)
    return count(name, published, pipe.receiver, None if at is None else at - fault_at)


async def test_the_pipeline_delivers_a_steady_stream(pipeline: Pipeline, scoreboard: Scoreboard) -> None:
    stories = pipeline.farm.publish(40)
    assert await pipeline.delivered(stories, SETTLE_S), pipeline.tail()
    row = scoreboard.add(count("steady stream", stories, pipeline.receiver, None))
    assert (row.lost, row.duplicates) == (0, 0)
    assert not pipeline.receiver.rejected, "every message must carry a valid signature"


@pytest.mark.parametrize("stage", STAGES)
async def test_sigterm_mid_stream_then_restart_loses_and_repeats_nothing(
    pipeline: Pipeline, scoreboard: Scoreboard, stage: str
) -> None:
    codes: list[int] = []

    async def stop() -> None:
        codes.append(await pipeline.stop(stage, signal.SIGTERM))

    async def restart() -> None:
        await pipeline.start(stage)

    row = scoreboard.add(await through_fault(pipeline, f"SIGTERM {stage}", stop, restart))
    assert codes == [0], f"{stage} did not stop cleanly on SIGTERM\n{pipeline.tail()}"
    assert (row.lost, row.duplicates) == (0, 0), row


async def test_after_graceful_stops_no_item_is_in_any_topic_twice(pipeline: Pipeline) -> None:
    bootstrap, topics = pipeline.settings.kafka.bootstrap_servers, pipeline.settings.topics
    raw = Counter(decode(RawItem, r.value).title for r in await read_topic(bootstrap, topics.raw, idle_s=1.0))
    classified = await read_topic(bootstrap, topics.classified, idle_s=1.0)
    ids = Counter(decode(ClassifiedItem, r.value).item.id for r in classified)
    assert set(raw) == {s.title for s in pipeline.farm.stories}
    assert max(raw.values()) == 1, "a poller stopped with SIGTERM produced an item again after its restart"
    assert max(ids.values()) == 1, "a classifier stopped with SIGTERM classified an item again after its restart"


@pytest.mark.parametrize("stage", STAGES)
async def test_sigkill_mid_stream_then_restart_loses_nothing(
    pipeline: Pipeline, scoreboard: Scoreboard, stage: str
) -> None:
    async def kill() -> None:
        await pipeline.stop(stage, signal.SIGKILL)

    async def restart() -> None:
        await pipeline.start(stage)

    row = scoreboard.add(await through_fault(pipeline, f"SIGKILL {stage}", kill, restart))
    assert row.lost == 0, row
    # At least once: what was in flight may arrive again, but only under the event id it had, so receivers dedupe.
    assert row.reissued == 0, row
    assert not pipeline.receiver.rejected, "every message, resent or not, must carry a valid signature"


async def test_broker_killed_and_restarted_mid_stream_loses_nothing(
    pipeline: Pipeline, scoreboard: Scoreboard, broker: LocalBroker | None
) -> None:
    if broker is None:
        pytest.skip("the suite runs against an external cluster it cannot restart")

    async def kill() -> None:
        await asyncio.to_thread(broker.kill)

    async def restart() -> None:
        await asyncio.to_thread(broker.start)
        await broker.wait_ready()

    try:
        row = scoreboard.add(await through_fault(pipeline, "broker SIGKILL + restart", kill, restart))
    finally:
        # Other tests share this broker: it must be back whatever happened here.
        if not broker.status().running:
            await asyncio.to_thread(broker.start)
            await broker.wait_ready()
    assert row.lost == 0 and row.reissued == 0, row
    assert pipeline.alive() == dict.fromkeys(STAGES, 1), f"a stage needed a manual restart\n{pipeline.tail()}"


async def test_with_two_of_each_consumer_one_killed_the_survivors_take_over(
    pipeline: Pipeline, scoreboard: Scoreboard
) -> None:
    scaled = ("classify", "alert", "deliver")
    for stage in scaled:
        await pipeline.start(stage)
    for stage in scaled:
        assert await wait_until(lambda s=stage: _members(pipeline, s, 2), timeout_s=SETTLE_S), pipeline.tail()

    async def kill_one_of_each() -> None:
        for stage in scaled:
            await pipeline.stop(stage, signal.SIGKILL)

    async def nothing() -> None:
        return None

    row = scoreboard.add(await through_fault(pipeline, "2 of each, 1 SIGKILLed", kill_one_of_each, nothing))
    assert row.lost == 0 and row.reissued == 0, row
    assert pipeline.alive() == dict.fromkeys(STAGES, 1)
    for stage in scaled:
        assert await pipeline.members(stage) == 1


async def _members(pipe: Pipeline, stage: str, n: int) -> bool:
    return await pipe.members(stage) == n


async def test_a_webhook_outage_delays_alerts_but_loses_none(
    pipeline: Pipeline, scoreboard: Scoreboard, outage_s: float
) -> None:
    receiver = pipeline.receiver

    async def outage() -> None:
        await receiver.go_down()
        await asyncio.sleep(outage_s)  # the outage itself

    row = scoreboard.add(await through_fault(pipeline, f"webhook down {outage_s:g} s", outage, receiver.come_back))
    assert row.lost == 0 and row.reissued == 0, row


async def test_a_receiver_answering_429_is_waited_for_as_it_asks(pipeline: Pipeline, scoreboard: Scoreboard) -> None:
    receiver = pipeline.receiver
    receiver.throttle_first, receiver.retry_after_s = 1, 1.0
    mark = len(receiver.requests)
    try:
        stories = pipeline.farm.publish(20)
        assert await pipeline.delivered(stories, SETTLE_S), pipeline.tail()
    finally:
        receiver.throttle_first = 0
    row = scoreboard.add(count("webhook 429 Retry-After 1 s", stories, receiver, None))
    assert row.lost == 0 and row.reissued == 0, row
    by_message: dict[str, list[tuple[float, int]]] = {}
    for r in receiver.requests[mark:]:
        by_message.setdefault(r.headers["Newsmon-Event-Id"], []).append((r.at, r.status))
    throttled = 0
    for tries in by_message.values():
        for (at, status), (nxt, _) in itertools.pairwise(tries):
            if status == 429:
                throttled += 1
                assert nxt - at >= receiver.retry_after_s - 0.05, "retried before Retry-After"
    # A throttled sink folds a burst into fewer messages, so count messages, not alerts: each was refused once.
    assert by_message and throttled == len(by_message), "a message was not answered 429 and retried"


@pytest.mark.timeout(900)
async def test_a_burst_of_ten_items_on_each_of_many_feeds_is_all_classified_and_alerted(
    pipeline: Pipeline, scoreboard: Scoreboard, burst_feeds: int
) -> None:
    farm, tmp = pipeline.farm, pipeline.config.parent
    active = farm.feed_urls(farm.active)
    burst_urls = farm.feed_urls(burst_feeds, start=farm.active)
    assert await pipeline.stop("ingest", signal.SIGTERM) == 0
    paths = [f"/f{i}.xml" for i in range(farm.active, farm.active + burst_feeds)]
    stories = farm.fill(paths, 10, alerting_every=10)
    # Each burst feed is polled once during the test; the steady feeds keep their pace.
    write_feeds(tmp / "feeds.yaml", active + burst_urls, slow_from=len(active))
    started = time.monotonic()
    await pipeline.start("ingest")
    assert await pipeline.delivered(stories, 3 * SETTLE_S), f"{count('burst', stories, pipeline.receiver, None)}"
    took = time.monotonic() - started
    assert await wait_until(lambda: caught_up(pipeline), timeout_s=SETTLE_S)
    name = f"burst {len(stories):,} items / {burst_feeds:,} feeds"
    row = scoreboard.add(count(name, stories, pipeline.receiver, took))
    assert row.lost == 0 and row.reissued == 0, row
    records = await read_topic(pipeline.settings.kafka.bootstrap_servers, pipeline.settings.topics.classified,
                               idle_s=1.0, timeout_s=60)  # fmt: skip
    titles = {decode(ClassifiedItem, r.value).item.title for r in records}
    assert {s.title for s in stories} <= titles, "some burst items were never classified"
