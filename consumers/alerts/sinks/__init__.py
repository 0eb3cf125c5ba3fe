"""Alert sinks: where alert messages go (file/stdout, signed webhook, Slack webhook or Web API, Discord, Teams)."""

from __future__ import annotations

import aiohttp

from consumers.alerts.sinks.base import Outcome, Sink
from consumers.alerts.sinks.config import ResolvedSink


def make_sink(config: ResolvedSink, session: aiohttp.ClientSession) -> Sink:
    """The sink implementation for a resolved configuration."""
    from consumers.alerts.sinks.discord import DiscordSink
    from consumers.alerts.sinks.file import FileSink
    from consumers.alerts.sinks.slack import SlackSink
    from consumers.alerts.sinks.slack_api import SlackApiSink
    from consumers.alerts.sinks.teams import TeamsSink
    from consumers.alerts.sinks.webhook import WebhookSink

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
