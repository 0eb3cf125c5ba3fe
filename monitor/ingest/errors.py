"""Feed failures, classified where they happen so the scheduler and operators can tell them apart."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    REDIRECT = "redirect"
    NOT_A_FEED = "not_a_feed"
    PARSE = "parse"
    BLOCKED = "blocked"
    BAD_URL = "bad_url"
    BLOCKED_ADDRESS = "blocked_address"  # the fetch policy refuses the address a hop goes to
    # The poll succeeded but the broker did not take the feed's state; the items it produced stay seen.
    STATE_WRITE = "state_write"


# Kinds caused by the content or the site's policy, not the network: a retry soon rarely helps.
_SLOW = {
    ErrorKind.TOO_LARGE,
    ErrorKind.REDIRECT,
    ErrorKind.NOT_A_FEED,
    ErrorKind.PARSE,
    ErrorKind.BLOCKED,
    ErrorKind.BLOCKED_ADDRESS,
}


class FeedError(Exception):
    """A poll of one feed failed; `kind` says how, `retry_after` is the server's own wait in seconds."""

    def __init__(
        self, kind: ErrorKind, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def slow_retry(self) -> bool:
        """Back off from a longer first wait: the content, the site's policy or a client error (4xx) failed."""
        if self.kind in _SLOW:
            return True
        # 408 and 429 are the server asking for patience, like a 5xx: the normal backoff applies.
        return (
            self.kind is ErrorKind.HTTP_STATUS
            and self.status is not None
            and 400 <= self.status < 500
            and self.status not in (408, 429)
        )

    def __str__(self) -> str:
        status = f" {self.status}" if self.status else ""
        return f"{self.kind.value}{status}: {self.args[0]}"
