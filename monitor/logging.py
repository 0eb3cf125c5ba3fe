"""Structured logging set up once at start-up: console for people, JSON lines for collectors, libraries included."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable

import structlog

from monitor.settings import LogSettings

# aiokafka logs these at ERROR although it retries them itself; newsmon reports the outage once, as
# kafka.unavailable and kafka.recovered, so they are warnings here.
RETRIED_BY_CLIENT = frozenset(
    {
        'Unable connect to "%s:%s": %s',
        "Unable connect to node with id %s: %s",
        "Unable to update metadata from %s",
        "Group Coordinator Request failed: %s",
        "Heartbeat send request failed: %s. Will retry.",
        "Heartbeat session expired - marking coordinator dead",
        "Error sending %s to node %s [%s] -- marking coordinator dead",
        "Failed fetch messages from %s: %s",
        "Failed fetch offsets from %s: %s",
        "OffsetCommit failed for group %s due to group error (%s), will rejoin",
    }
)
# Distinct messages remembered for rate limiting; past this (messages formatted before logging) they start afresh.
_MAX_KEYS = 1000


class LibraryRecords(logging.Filter):
    """Tames the standard-library records of libraries: an error the client retries itself becomes a warning, and
    a message logged again within `window_s` of its last appearance is dropped and counted, the count going out as
    `repeated` with its next appearance."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING and record.msg in RETRIED_BY_CLIENT:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.retried_by_client = True
        return self._first_in_window(record)

    def _first_in_window(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        shown_at, dropped = self._seen.get(key, (-math.inf, 0))
        if now - shown_at < self._window_s:
            self._seen[key] = (shown_at, dropped + 1)
            return False
        if len(self._seen) >= _MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if dropped:
            record.repeated = dropped
        return True


def _renderer(s: LogSettings) -> structlog.types.Processor:
    if s.format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def configure_logging(s: LogSettings) -> None:
    level = getattr(logging, s.level)
    renderer = _renderer(s)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (aiokafka above all) log through the standard library: the same renderer, at warnings and above.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # Without the bound ids: a library's task (a connection's reader) may have been started while one item
            # or feed was in hand, and its lines are not about that one.
            foreign_pre_chain=[
                *shared[1:],
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(["repeated", "retried_by_client"]),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    handler.addFilter(LibraryRecords(s.library_repeat_s))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(level, logging.WARNING))
