"""Print what lands on a topic, one line per message, for people watching the pipeline."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from monitor.ingest.normalize import strip_controls
from monitor.messages import ClassifiedItem, DecodeError, RawItem, decode
from monitor.settings import Settings
from monitor.stream.clients import make_consumer, start_client


def describe(topic: str, value: bytes | None, settings: Settings) -> str:
    """One readable line for a message of any newsmon topic, with nothing a terminal would act on."""
    # Any client can write to a topic: its text may carry escape sequences that normalization never saw.
    return strip_controls(_describe(topic, value, settings)).replace("\n", " ").replace("\r", " ")


def _describe(topic: str, value: bytes | None, settings: Settings) -> str:
    try:
        if topic == settings.topics.raw:
            raw = decode(RawItem, value)
            flags = "".join(f" [{f}]" for f in ("backfill", "update") if getattr(raw, f))
            return f"{topic} <- {raw.source}: {raw.title}{flags}"
        if topic == settings.topics.classified:
            c = decode(ClassifiedItem, value)
            scores = " ".join(f"{k}={v:.2f}" for k, v in c.scores.items())
            return f"{topic} <- {c.item.title} | labels={','.join(c.labels) or '-'} {scores}"
    except DecodeError as exc:
        return f"{topic} <- undecodable message: {exc}"
    return f"{topic} <- {(value or b'').decode('utf-8', 'replace')[:300]}"


async def tail(
    settings: Settings, topics: list[str], stop: asyncio.Event, *, from_beginning: bool = False,
    limit: int | None = None, out: TextIO = sys.stdout,
) -> int:  # fmt: skip
    """Print messages until stopped or `limit` were printed; return how many were printed."""
    consumer = make_consumer(
        settings.kafka, *topics, group_id=None, auto_offset_reset="earliest" if from_beginning else "latest"
    )
    await start_client(consumer, settings.kafka)
    printed = 0
    try:
        while not stop.is_set() and (limit is None or printed < limit):
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for rec in records:
                    print(describe(tp.topic, rec.value, settings), file=out, flush=True)
                    printed += 1
    finally:
        await consumer.stop()
    return printed
