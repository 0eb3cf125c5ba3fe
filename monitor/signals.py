"""Ctrl-C and SIGTERM ask a running command to stop: they set an event its loops watch."""

from __future__ import annotations

import asyncio
import signal


def install_signal_handlers(stop: asyncio.Event) -> None:
    """Set `stop` on Ctrl-C or SIGTERM instead of raising, so the loops finish their in-flight work."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
