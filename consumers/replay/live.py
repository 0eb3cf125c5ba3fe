"""What the live alert stage sent from the start of a range on: read back from the alerts topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer

from consumers.replay.source import Record, read_spans
from consumers.replay.window import resolve_spans
from monitor.messages import Alert, DecodeError, decode
from monitor.settings import KafkaSettings
from monitor.stream.reader import TopicMissing, partitions

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LiveAlert:
    """The parts of a live alert the comparison needs: which rule fired for which story, as it was classified."""

    event_id: str
    rule_id: str
    item_id: str
    labels: tuple[str, ...]
    title: str
    url: str


def _live(a: Alert) -> LiveAlert:
    it = a.item.item
    return LiveAlert(a.event_id, a.rule_id, it.id, tuple(sorted(a.item.labels)), it.title, it.url)


def live_from(values: Iterable[tuple[int, int, bytes | None]]) -> dict[str, LiveAlert]:
    """Alert records (partition, offset, value) by event id; an undecodable one is logged and skipped."""
    out: dict[str, LiveAlert] = {}
    for partition, offset, value in values:
        try:
            a = decode(Alert, value)
        except DecodeError as exc:
            log.warning("replay.bad_live_alert", partition=partition, offset=offset, error=str(exc))
            continue
        out.setdefault(a.event_id, _live(a))
    return out


async def alert_records(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer, topic: str, since: datetime, stop: asyncio.Event
) -> AsyncIterator[list[Record]] | None:
    """Batches of the alert records produced from `since` to now; None when the alerts topic does not exist."""
    try:
        parts = await partitions(kafka, topic)
    except TopicMissing:
        log.warning("replay.no_live_alerts", topic=topic)
        return None
    spans = await resolve_spans(consumer, topic, parts, since, None)
    return read_spans(consumer, topic, spans, stop)


async def live_alerts(
    kafka: KafkaSettings, consumer: AIOKafkaConsumer, topic: str, since: datetime, stop: asyncio.Event
) -> dict[str, LiveAlert] | None:
    """Every alert produced from `since` to now, by event id; None when the alerts topic does not exist."""
    batches = await alert_records(kafka, consumer, topic, since, stop)
    if batches is None:
        return None
    out: dict[str, LiveAlert] = {}
    async for batch in batches:
        for eid, a in live_from((r.partition, r.offset, r.value) for r in batch).items():
            out.setdefault(eid, a)
    return out
