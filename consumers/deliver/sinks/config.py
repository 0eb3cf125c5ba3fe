"""Sink definitions from the rules file, and their URLs and secrets resolved at start-up (never logged)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.settings import ConfigError, read_secret

SinkType = Literal["file", "webhook", "slack", "discord", "teams"]

# (messages per second, burst, concurrent requests) per destination, from each service's documented limits:
# Slack about 1 message per second per channel, Discord 30 per minute per channel, Teams 4 requests per second.
DEFAULT_LIMITS: dict[str, tuple[float, int, int]] = {
    "file": (0.0, 1, 1),
    "webhook": (0.0, 1, 16),
    "slack": (1.0, 2, 1),
    "discord": (0.5, 5, 1),
    "teams": (4.0, 4, 2),
}
_SCHEMES = ("http", "https")
# A shorter HMAC key can be guessed offline from one captured request; 32 bytes matches SHA-256's strength.
MIN_SECRET_BYTES = 32


def check_url(url: str) -> str | None:
    """Why a sink URL is unusable, or None: only http(s) URLs with a host are accepted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in _SCHEMES:
        return f"has unsupported scheme {parts.scheme or '(none)'!r} (only http and https)"
    if not host:
        return "has no host"
    return None


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = False
    concurrency: int | None = Field(None, ge=1, le=1000)
    rate_per_s: float | None = Field(None, ge=0, le=10000)  # 0: no limit
    burst: int | None = Field(None, ge=1, le=10000)
    timeout_s: float = Field(10.0, gt=0, le=300)


class FileSinkSpec(_Spec):
    """JSON lines, one per message, appended to a file or written to standard output (`-`)."""

    type: Literal["file"]
    path: str = "-"


class _HttpSpec(_Spec):
    url: str = ""
    url_env: str = ""
    url_file: Path | None = None

    @model_validator(mode="after")
    def _one_url_source(self) -> _HttpSpec:
        if not (self.url or self.url_env or self.url_file):
            raise ValueError("give url_env or url_file (or a literal url for a URL that is not secret)")
        if self.url and (self.url_env or self.url_file):
            raise ValueError("give either url or url_env/url_file, not both")
        if self.url and (why := check_url(self.url)):
            raise ValueError(f"url {why}")
        return self


class WebhookSinkSpec(_HttpSpec):
    """A generic JSON webhook, signed with HMAC-SHA256 (see docs/webhooks.md)."""

    type: Literal["webhook"]
    key_id: str = Field("k1", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    secret_env: str = ""
    secret_file: Path | None = None

    @model_validator(mode="after")
    def _secret_source(self) -> WebhookSinkSpec:
        if not self.secret_env and self.secret_file is None:
            raise ValueError("a webhook needs secret_env or secret_file for its signing key")
        return self


class SlackSinkSpec(_HttpSpec):
    type: Literal["slack"]


class DiscordSinkSpec(_HttpSpec):
    type: Literal["discord"]


class TeamsSinkSpec(_HttpSpec):
    type: Literal["teams"]


AnySinkSpec = FileSinkSpec | WebhookSinkSpec | SlackSinkSpec | DiscordSinkSpec | TeamsSinkSpec
SinkSpec = Annotated[AnySinkSpec, Field(discriminator="type")]


@dataclass(frozen=True)
class ResolvedSink:
    """A sink ready to use: its URL and signing secret in hand, its limits filled in."""

    name: str
    spec: AnySinkSpec
    url: str
    secret: str
    rate_per_s: float
    burst: int
    concurrency: int

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def destination(self) -> str:
        """What the remote service rate-limits on: the webhook URL (one channel), or the file path."""
        return f"{self.spec.type}:{self.url}" if self.url else f"file:{getattr(self.spec, 'path', '-')}"

    @property
    def safe_url(self) -> str:
        """The URL with any user name and password and everything after the host hidden, fit for logs."""
        if not self.url:
            return ""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/***"

    def redact(self, text: str) -> str:
        """Text with this sink's URL, its credentials, its path and its secret replaced by ***."""
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> list[str]:
        out = [self.secret] if self.secret else []
        if self.url:
            parts = urlsplit(self.url)
            out.append(self.url)
            # Slack, Discord and Teams put the credential in the path; errors may quote it without the host.
            if len(parts.path) > 1:
                out.append(parts.path)
            if parts.query:
                out.append(parts.query)
            out.extend(_userinfo(parts.netloc))
        return sorted({x for x in out if x}, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"ResolvedSink(name={self.name!r}, type={self.type!r}, url={self.safe_url!r})"


def _userinfo(netloc: str) -> list[str]:
    """The credentials of a URL's `user:password@`, as written and as decoded (clients may quote either)."""
    info = netloc.rpartition("@")[0]
    pieces = [info, *info.split(":", 1)] if info else []
    return pieces + [unquote(x) for x in pieces]


def resolve_sink(name: str, spec: AnySinkSpec) -> ResolvedSink | None:
    """Read the sink's URL and secret; None when its URL is not configured (allowed unless `required`)."""
    rate, burst, concurrency = DEFAULT_LIMITS[spec.type]
    rate = spec.rate_per_s if spec.rate_per_s is not None else rate
    burst = spec.burst or burst
    concurrency = spec.concurrency or concurrency
    if isinstance(spec, FileSinkSpec):
        return ResolvedSink(name, spec, "", "", rate, burst, concurrency)
    source = "url" if spec.url else (f"${spec.url_env}" if spec.url_env else f"file {spec.url_file}")
    url = spec.url or read_secret(spec.url_env, spec.url_file)
    if not url:
        if spec.required:
            raise ConfigError(f"sink {name!r} is required but its URL ({source}) is not set")
        return None
    if why := check_url(url):
        raise ConfigError(f"sink {name!r}: the URL from {source} {why}")
    secret = _signing_secret(name, spec) if isinstance(spec, WebhookSinkSpec) else ""
    return ResolvedSink(name, spec, url, secret, rate, burst, concurrency)


def _signing_secret(name: str, spec: WebhookSinkSpec) -> str:
    """The webhook's signing secret; ConfigError when it is missing or too short (the secret is never quoted)."""
    secret = read_secret(spec.secret_env, spec.secret_file)
    where = f"${spec.secret_env}" if spec.secret_env else f"file {spec.secret_file}"
    if not secret:
        raise ConfigError(f"sink {name!r} has a URL but no signing secret ({where} is not set)")
    if (n := len(secret.encode("utf-8"))) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"sink {name!r}: the signing secret from {where} is {n} bytes; it must have at least "
            f"{MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
        )
    return secret
