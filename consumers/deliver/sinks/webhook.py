"""The generic JSON webhook: the versioned payload, signed with HMAC-SHA256 over timestamp and body.

Headers (docs/webhooks.md): the event id twice (as itself and as an idempotency key), a Unix timestamp, the id of
the signing key and `v1=<hex>` signature, so receivers can verify, reject replays, dedupe and rotate keys.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

import aiohttp

from consumers.deliver.payload import PAYLOAD_VERSION, encode_envelope, message_id
from consumers.deliver.sinks.base import Outcome, Sink
from consumers.deliver.sinks.config import ResolvedSink, WebhookSinkSpec
from consumers.deliver.sinks.http import post
from monitor.messages import Alert

TOLERANCE_S = 300
H_EVENT = "Newsmon-Event-Id"
H_IDEMPOTENCY = "Idempotency-Key"
H_TIMESTAMP = "Newsmon-Timestamp"
H_KEY_ID = "Newsmon-Key-Id"
H_SIGNATURE = "Newsmon-Signature"
H_VERSION = "Newsmon-Payload-Version"
H_ATTEMPT = "Newsmon-Attempt"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under the secret."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: dict[str, str],
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> str | None:
    """Why a received request fails verification, or None when it is authentic and fresh (the receiver's side)."""
    key_id, ts, sig = headers.get(H_KEY_ID), headers.get(H_TIMESTAMP), headers.get(H_SIGNATURE)
    if not key_id or not ts or not sig:
        return "missing signature headers"
    secret = secrets.get(key_id)
    if secret is None:
        return f"unknown key id {key_id!r}"
    try:
        timestamp = int(ts)
    except ValueError:
        return "bad timestamp"
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return "timestamp outside the tolerance window"
    if not hmac.compare_digest(signature(secret, timestamp, body), sig):
        return "signature mismatch"
    return None


class WebhookSink(Sink):
    def __init__(self, config: ResolvedSink, session: aiohttp.ClientSession) -> None:
        super().__init__(config)
        assert isinstance(config.spec, WebhookSinkSpec)
        self._key_id = config.spec.key_id
        self._session = session

    def render(self, alerts: list[Alert], attempt: int, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        body = encode_envelope(alerts)
        # Signed afresh on every attempt, so a retry hours later still passes the receiver's tolerance window.
        ts = int(time.time() if now is None else now)
        event_id = message_id(alerts)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "newsmon-webhook/1",
            H_EVENT: event_id,
            H_IDEMPOTENCY: event_id,
            H_TIMESTAMP: str(ts),
            H_KEY_ID: self._key_id,
            H_SIGNATURE: signature(self.config.secret, ts, body),
            H_VERSION: str(PAYLOAD_VERSION),
            H_ATTEMPT: str(attempt),
        }
        return body, headers

    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        body, headers = self.render(alerts, attempt)
        return await post(self._session, self.config.url, body, headers, self.config.spec.timeout_s, self.config.redact)
