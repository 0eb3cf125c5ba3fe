"""Outcomes into Kafka: a `Delivery` per attempt and a `DeadLetter` per abandoned alert, retried through outages."""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaProducer

from consumers.deliver import metrics as delivery_metrics
from monitor.messages import DeadLetter, Delivery, Message, encode, encode_key
from monitor.settings import TopicSettings
from monitor.stream.produce import Outgoing, produce_retrying

log = structlog.get_logger(__name__)


class Recorder:
    """Writes outcomes and waits for the broker; a final outcome must be stored before its offset is committed."""

    def __init__(self, producer: AIOKafkaProducer, topics: TopicSettings) -> None:
        self._producer = producer
        self._topics = topics
        self._background: set[asyncio.Task[None]] = set()

    async def write(self, deliveries: list[Delivery], letters: list[DeadLetter] | None = None) -> None:
        """Produce the records and wait for every acknowledgement, retrying while the broker is unreachable."""
        out: list[tuple[str, Message]] = [(self._topics.deliveries, d) for d in deliveries]
        out += [(self._topics.dead_letter, x) for x in letters or []]
        # Retried through outages: the outcome is already decided and must not be lost.
        records = [Outgoing(t, encode_key(m), encode(m)) for t, m in out]
        for r in await produce_retrying(self._producer, records, stage="deliver") or []:
            # Unreachable with bounded records; logged rather than retried, so the stage never stalls on one.
            log.error("delivery.record_refused", topic=r.record.topic, key=r.record.key, reason=r.reason)
        delivery_metrics.recorded(deliveries, letters or [])

    def note(self, deliveries: list[Delivery]) -> None:
        """Record attempts that decide nothing (retries) without making anyone wait for them."""
        task = asyncio.create_task(self.write(deliveries))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float) -> None:
        if self._background:
            _, pending = await asyncio.wait(set(self._background), timeout=timeout_s)
            for t in pending:
                t.cancel()
