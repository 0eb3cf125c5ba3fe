"""Structured logging set up once at start-up: console for people, JSON lines for collectors."""

from __future__ import annotations

import logging
import sys

import structlog

from monitor.settings import LogSettings


def configure_logging(s: LogSettings) -> None:
    level = getattr(logging, s.level)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if s.format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # aiokafka logs through the standard library; keep its chatter at warnings.
    logging.basicConfig(
        level=max(level, logging.WARNING), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
