"""A consuming stage's watch: readiness from its partition assignment, and its lag per partition as a gauge."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

from monitor.ops.metrics import CONSUMER_LAG
from monitor.ops.readiness import Check

log = structlog.get_logger(__name__)

_TICK_S = 0.5
_ASK_TIMEOUT_S = 5.0


class ConsumerWatch:
    """Reports `check` up while the consumer holds partitions and sets `newsmon_consumer_lag` every `lag_interval_s`.

    Lag is the high watermark the consumer last fetched minus the group's committed offset (the partition's
    beginning when nothing is committed yet), so it counts records read but not finished as well.
    """

    def __init__(self, consumer: AIOKafkaConsumer, stage: str, check: Check, lag_interval_s: float) -> None:
        self._consumer = consumer
        self._stage = stage
        self._check = check
        self._lag_interval_s = lag_interval_s
        self._measured: set[TopicPartition] = set()
        self._task = asyncio.create_task(self._run(), name=f"{stage}-consumer-watch")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._check.down("stopped")
        self._forget(set(self._measured))

    async def _run(self) -> None:
        sampled_at = 0.0
        while True:
            assigned = self._consumer.assignment()
            if assigned:
                self._check.up(f"{len(assigned)} partitions assigned")
            else:
                self._check.down("no partitions assigned")
            if time.monotonic() - sampled_at >= self._lag_interval_s:
                sampled_at = time.monotonic()
                await self._sample(set(assigned))
            await asyncio.sleep(_TICK_S)

    async def _sample(self, assigned: set[TopicPartition]) -> None:
        self._forget(self._measured - assigned)
        try:
            async with asyncio.timeout(_ASK_TIMEOUT_S):
                lags = await self._lags(assigned)
        except (KafkaError, IllegalStateError, TimeoutError) as exc:
            # Retryable: the broker is away or the group rebalancing; the outage itself is logged by the Kafka watch.
            log.debug("lag.unmeasured", stage=self._stage, error=repr(exc))
            return
        except Exception as exc:
            # A bug in measuring must not stop the stage it measures: logged, and measured again next time.
            log.warning("lag.measure_failed", stage=self._stage, error=repr(exc), exc_info=True)
            return
        for tp, lag in lags.items():
            CONSUMER_LAG.labels(self._stage, tp.topic, str(tp.partition)).set(lag)
            self._measured.add(tp)

    async def _lags(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        highs = {tp: h for tp in assigned if (h := self._highwater(tp)) is not None}
        committed = {tp: await self._consumer.committed(tp) for tp in highs}
        missing = [tp for tp, off in committed.items() if off is None]
        starts = await self._consumer.beginning_offsets(missing) if missing else {}
        done = {tp: starts.get(tp, 0) if off is None else off for tp, off in committed.items()}
        return {tp: max(0, h - done[tp]) for tp, h in highs.items()}

    def _highwater(self, tp: TopicPartition) -> int | None:
        """The partition's high watermark from the last fetch; None before one, or once the partition moved away."""
        try:
            return self._consumer.highwater(tp)
        except (AssertionError, IllegalStateError):
            return None

    def _forget(self, gone: set[TopicPartition]) -> None:
        for tp in gone:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._stage, tp.topic, str(tp.partition))
            self._measured.discard(tp)
