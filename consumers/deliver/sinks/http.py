"""POST a rendered message and classify the answer: delivered, retryable (429, 408, 5xx, network) or permanent;
the sink of the services that take one JSON message per batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from consumers.deliver.sinks.base import Outcome, Sink
from consumers.deliver.sinks.config import ResolvedSink
from monitor.messages import Alert
from monitor.retry import parse_retry_after

_SNIPPET = 300


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
                parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC)),
                redact(f"HTTP {status} {resp.reason or ''}: {snippet}".strip()),
            )
    except TimeoutError:
        return Outcome(False, 0, True, None, f"timed out after {timeout_s:g}s")
    except aiohttp.InvalidURL as exc:
        return Outcome(False, 0, False, None, redact(f"invalid URL: {exc}"))
    except (aiohttp.ClientError, OSError) as exc:
        return Outcome(False, 0, True, None, redact(f"{type(exc).__name__}: {exc}"))


class JsonSink(Sink):
    """Posts each batch of alerts as one JSON message, rendered for its service (Slack, Discord, Teams webhooks)."""

    def __init__(
        self,
        config: ResolvedSink,
        session: aiohttp.ClientSession,
        render: Callable[[list[Alert]], dict[str, Any]],
        content_type: str = "application/json",
    ) -> None:
        super().__init__(config)
        self._session = session
        self._render = render
        self._headers = {"Content-Type": content_type, "User-Agent": "newsmon/1"}

    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        body = json.dumps(self._render(alerts), ensure_ascii=False).encode("utf-8")
        timeout_s = self.config.spec.timeout_s
        return await post(self._session, self.config.url, body, self._headers, timeout_s, self.config.redact)
