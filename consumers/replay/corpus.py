"""Backtest corpora that outlive retention: a range of a topic, with the live alerts of that range, in one file.

The file is gzipped JSON lines: a header (the topic's role and the range's spans), then the live alerts, then the
records. A replay of the file gives the report a replay of the topic gave, without a broker.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from consumers.replay.live import LiveAlert, alert_records, live_from
from consumers.replay.request import ReplayInputError, ReplayRequest
from consumers.replay.source import Record, read_spans, replay_consumer
from consumers.replay.window import Span, range_spans
from monitor.settings import Settings
from monitor.stream.clients import start_client

FORMAT = "newsmon-replay-corpus/1"


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A record as a corpus file keeps it: what a replay reads of a Kafka record."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


def _line(kind: str, r: Record) -> str:
    return json.dumps({"kind": kind, "topic": r.topic, "partition": r.partition, "offset": r.offset,
                       "timestamp": r.timestamp, "key": _text(r.key), "value": _text(r.value)}) + "\n"  # fmt: skip


def _bytes(s: str | None) -> bytes | None:
    return None if s is None else s.encode("utf-8")


def _record(obj: dict[str, Any]) -> FileRecord:
    return FileRecord(obj["topic"], obj["partition"], obj["offset"], obj["timestamp"], _bytes(obj["key"]),
                      _bytes(obj["value"]))  # fmt: skip


async def export(settings: Settings, req: ReplayRequest, path: Path, stop: asyncio.Event) -> int:
    """Write the request's range of its topic, and the live alerts from its start, to `path`; return the records."""
    role = "raw" if req.topic == settings.topics.raw else "classified"
    consumer = replay_consumer(settings.kafka, "export")
    await start_client(consumer, settings.kafka)
    n = 0
    try:
        spans = await range_spans(settings.kafka, consumer, req)
        with gzip.open(path, "wt", encoding="utf-8") as out:
            header = {"kind": "header", "format": FORMAT, "role": role, "topic": req.topic,
                      "spans": [[s.partition, s.start, s.end] for s in spans]}  # fmt: skip
            out.write(json.dumps(header) + "\n")
            alerts = await alert_records(settings.kafka, consumer, settings.topics.alerts, req.since, stop)
            if alerts is not None:
                async for batch in alerts:
                    out.writelines(_line("alert", r) for r in batch)
            async for batch in read_spans(consumer, req.topic, spans, stop):
                out.writelines(_line("record", r) for r in batch)
                n += len(batch)
    finally:
        await consumer.stop()
    return n


class Corpus:
    """A corpus file opened for a replay: its header, its live alerts, then its records in batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fh: IO[str] = gzip.open(path, "rt", encoding="utf-8")
            self._lines = iter(self._fh)
            header = json.loads(next(self._lines))
        except (OSError, EOFError, StopIteration, json.JSONDecodeError) as exc:
            raise ReplayInputError(f"{path} is not a replay corpus (newsmon export): {exc}") from exc
        if header.get("format") != FORMAT:
            raise ReplayInputError(f"{path} is not a replay corpus of format {FORMAT}")
        self.role: str = header["role"]
        self.topic: str = header["topic"]
        self.spans = [Span(p, start, end) for p, start, end in header["spans"]]
        self._pending: dict[str, Any] | None = None

    def live_alerts(self) -> dict[str, LiveAlert]:
        """The live alerts the file holds (they come before the records)."""
        values = []
        for line in self._lines:
            obj = json.loads(line)
            if obj["kind"] != "alert":
                self._pending = obj
                break
            values.append((obj["partition"], obj["offset"], _bytes(obj["value"])))
        return live_from(values)

    def batches(self, stop: asyncio.Event, size: int = 2000) -> Iterator[list[FileRecord]]:
        batch = [_record(self._pending)] if self._pending is not None else []
        for line in self._lines:
            if stop.is_set():
                return
            batch.append(_record(json.loads(line)))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        self._fh.close()
