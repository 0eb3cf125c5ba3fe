"""Slack's Web API with a bot token: `chat.postMessage` for alerts, and for a story's updates a reply in the
alert's thread (`thread_ts`) or an edit of the alert (`chat.update`), located by the alert's recorded reference.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": ...}`; the error names whether trying
again can help (rate limits, Slack's own trouble) or not (a bad token, an unknown channel).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

from consumers.deliver.sinks.base import Outcome, Sink
from consumers.deliver.sinks.config import ResolvedSink, SlackApiSinkSpec
from consumers.deliver.sinks.slack import render_slack
from monitor.messages import Alert
from monitor.retry import parse_retry_after

# Errors after which the same request can succeed later; every other `ok: false` is permanent.
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def _reference(channel: str, ts: str) -> str:
    return f"{channel} {ts}"


class SlackApiSink(Sink):
    def __init__(self, config: ResolvedSink, session: aiohttp.ClientSession) -> None:
        super().__init__(config)
        assert isinstance(config.spec, SlackApiSinkSpec)
        self._spec = config.spec
        self._session = session

    def request(self, alerts: list[Alert]) -> tuple[str, dict[str, Any]]:
        """The API method and body for a message: an update goes under or over the story's first alert when
        that alert's message is known, else (delivered long ago, or elsewhere) it is posted on its own."""
        body = render_slack(alerts)
        a = alerts[0]
        parent = self.references(a.story.first_event_id) if len(alerts) == 1 and a.story and a.kind == "update" else ""
        if not parent:
            return "chat.postMessage", {**body, "channel": self._spec.channel}
        channel, _, ts = parent.partition(" ")
        if self._spec.updates == "edit":
            # The edited message shows the story as it stands: the newest report, its outlets, what is new.
            full = render_slack([a.model_copy(update={"kind": "alert"})])
            return "chat.update", {**full, "channel": channel, "ts": ts}
        return "chat.postMessage", {**body, "channel": channel, "thread_ts": ts}

    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        method, body = self.request(alerts)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {self.config.secret}",
            "User-Agent": "newsmon/1",
        }
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = f"{self.config.url}/{method}"
        timeout = aiohttp.ClientTimeout(total=self._spec.timeout_s)
        try:
            async with self._session.post(url, data=data, headers=headers, allow_redirects=False,
                                          timeout=timeout) as resp:  # fmt: skip
                return await self._outcome(resp, body)
        except TimeoutError:
            return Outcome(False, 0, True, None, f"timed out after {self._spec.timeout_s:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(False, 0, True, None, self.config.redact(f"{type(exc).__name__}: {exc}"))

    async def _outcome(self, resp: aiohttp.ClientResponse, body: dict[str, Any]) -> Outcome:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
        if resp.status != 200:
            retryable = resp.status in (408, 425, 429) or resp.status >= 500
            return Outcome(False, resp.status, retryable, retry_after, f"HTTP {resp.status} {resp.reason or ''}")
        try:
            answer = json.loads(await resp.read())
        except ValueError:
            return Outcome(False, 200, True, None, "Slack answered with something other than JSON")
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = str(answer.get("error", "unknown") if isinstance(answer, dict) else "unknown")
            return Outcome(False, 200, error in RETRYABLE_ERRORS, retry_after, self.config.redact(f"Slack: {error}"))
        channel = str(answer.get("channel") or body["channel"])
        # An edit keeps the message it edited; a reply in a thread is not where later updates go.
        ts = body.get("thread_ts") or body.get("ts") or str(answer.get("ts", ""))
        return Outcome(True, 200, reference=_reference(channel, ts) if ts else "")
