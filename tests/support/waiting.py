"""Waiting in tests for a positive signal instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_for(predicate: Any, timeout_s: float = 20.0, step_s: float = 0.05) -> bool:
    """Poll a cheap synchronous predicate until it holds; return whether it held in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0, step_s: float = 0.2) -> bool:
    """Poll an asynchronous check (e.g. a broker query) until it holds; return whether it held in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(step_s)
    return await check()
