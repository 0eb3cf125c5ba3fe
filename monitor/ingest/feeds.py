"""The feed list (`config/feeds.yaml`): which feeds to poll, validated once at start-up."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor import config_file
from monitor.messages import Tier

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def default_feed_id(url: str) -> str:
    """A readable, stable id for a feed that has none: host plus a short hash of the URL."""
    host = (urlsplit(url).hostname or "feed").removeprefix("www.")
    return f"{re.sub(r'[^a-z0-9.-]', '-', host.lower())}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"


class FeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Every field ends up in each of the feed's items: bounded, so an item always fits in a Kafka message.
    url: str = Field(max_length=2048)
    id: str = ""
    name: str = Field("", max_length=200)
    lang: str = Field("", max_length=35)
    region: str = Field("", max_length=100)
    # wire, broadcaster, outlet or aggregator: alert rules may trust some tiers at once (see README "Stories").
    tier: Tier = "outlet"
    categories: tuple[Annotated[str, Field(max_length=100)], ...] = Field((), max_length=20)
    interval_s: float | None = Field(None, gt=0)  # a fixed interval: no learning from the feed's rhythm
    min_interval_s: float | None = Field(None, gt=0)
    max_interval_s: float | None = Field(None, gt=0)
    silent_after_s: float | None = Field(None, gt=0)  # flag the feed silent after this long without news
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> FeedConfig:
        if self.min_interval_s and self.max_interval_s and self.min_interval_s > self.max_interval_s:
            raise ValueError("min_interval_s must not exceed max_interval_s")
        if not self.id:
            object.__setattr__(self, "id", default_feed_id(self.url))
        elif not _ID_RE.match(self.id):
            raise ValueError(f"id {self.id!r} must be lowercase letters, digits, '.', '_' or '-'")
        if not self.name:
            object.__setattr__(self, "name", urlsplit(self.url).hostname or self.id)
        return self


class FeedList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feeds: list[FeedConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> FeedList:
        seen: set[str] = set()
        for f in self.feeds:
            if f.id in seen:
                raise ValueError(f"feed id {f.id!r} appears twice")
            seen.add(f.id)
        return self


def load_feeds(path: Path) -> list[FeedConfig]:
    """Read and validate the feed list; raise ConfigError with the file, line and offending entry."""
    doc = config_file.parse(config_file.read_text(path, "feed list"), str(path), "feed list")
    return config_file.validate(doc, FeedList, "feed list").feeds
