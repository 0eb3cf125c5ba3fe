"""Alert sinks: where alert messages go (file/stdout, signed webhook, Slack webhook or Web API, Discord, Teams)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumers.deliver.sinks.base import Outcome, Sink
from consumers.deliver.sinks.config import ResolvedSink

if TYPE_CHECKING:
    # Only for annotations: the rules, which read sink configurations, load without the HTTP client.
    import aiohttp


def make_sink(config: ResolvedSink, session: aiohttp.ClientSession) -> Sink:
    """The sink implementation for a resolved configuration."""
    from consumers.deliver.sinks.discord import DiscordSink
    from consumers.deliver.sinks.file import FileSink
    from consumers.deliver.sinks.slack import SlackSink
    from consumers.deliver.sinks.slack_api import SlackApiSink
    from consumers.deliver.sinks.teams import TeamsSink
    from consumers.deliver.sinks.webhook import WebhookSink

    match config.type:
        case "file":
            return FileSink(config)
        case "webhook":
            return WebhookSink(config, session)
        case "slack":
            return SlackSink(config, session)
        case "slack_api":
            return SlackApiSink(config, session)
        case "discord":
            return DiscordSink(config, session)
        case "teams":
            return TeamsSink(config, session)
    raise ValueError(f"unknown sink type {config.type!r}")


__all__ = ["Outcome", "ResolvedSink", "Sink", "make_sink"]
