"""JSON lines on standard output or appended to a file: the sink that works with nothing configured."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from consumers.deliver.payload import encode_envelope
from consumers.deliver.sinks.base import Outcome, Sink
from consumers.deliver.sinks.config import FileSinkSpec, ResolvedSink
from monitor.messages import Alert


class FileSink(Sink):
    """One line per message in the webhook payload format (docs/webhooks.md)."""

    def __init__(self, config: ResolvedSink) -> None:
        super().__init__(config)
        assert isinstance(config.spec, FileSinkSpec)
        self._path = None if config.spec.path == "-" else Path(config.spec.path)
        # Lines from concurrent messages must not interleave.
        self._lock = asyncio.Lock()

    def _write(self, line: bytes) -> None:
        if self._path is None:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            return
        with self._path.open("ab") as f:
            f.write(line)
            f.flush()

    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        line = encode_envelope(alerts) + b"\n"
        try:
            async with self._lock:
                await asyncio.to_thread(self._write, line)
        except OSError as exc:
            # A full disk or a closed pipe may recover; a missing directory will not, but retries are cheap.
            return Outcome(False, 0, True, None, f"cannot write {self._path or 'stdout'}: {exc.strerror or exc}")
        return Outcome(True)
