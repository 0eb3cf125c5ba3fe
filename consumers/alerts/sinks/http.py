"""POST a rendered message and classify the answer: delivered, retryable (429, 408, 5xx, network) or permanent."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import aiohttp

from consumers.alerts.sinks.base import Outcome

_SNIPPET = 300


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    redact: Callable[[str], str],
) -> Outcome:
    """One POST with a total timeout; redirects are not followed (a webhook that moved is a configuration error)."""
    try:
        async with session.post(
            url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            snippet = (await resp.content.read(_SNIPPET)).decode("utf-8", "replace").strip()
            status = resp.status
            if 200 <= status < 300:
                return Outcome(True, status)
            retryable = status in (408, 425, 429) or status >= 500
            return Outcome(
                False,
                status,
                retryable,
                parse_retry_after(resp.headers.get("Retry-After")),
                redact(f"HTTP {status} {resp.reason or ''}: {snippet}".strip()),
            )
    except TimeoutError:
        return Outcome(False, 0, True, None, f"timed out after {timeout_s:g}s")
    except aiohttp.InvalidURL as exc:
        return Outcome(False, 0, False, None, redact(f"invalid URL: {exc}"))
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(False, 0, True, None, redact(f"{type(exc).__name__}: {exc}"))
