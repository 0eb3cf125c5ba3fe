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
    from consumers.deliver.sinks.discord import render_discord
    from consumers.deliver.sinks.file import FileSink
    from consumers.deliver.sinks.http import JsonSink
    from consumers.deliver.sinks.slack import render_slack
    from consumers.deliver.sinks.slack_api import SlackApiSink
    from consumers.deliver.sinks.teams import render_teams
    from consumers.deliver.sinks.webhook import WebhookSink

    match config.type:
        case "file":
            return FileSink(config)
        case "webhook":
            return WebhookSink(config, session)
        case "slack":
            return JsonSink(config, session, render_slack, "application/json; charset=utf-8")
        case "slack_api":
            return SlackApiSink(config, session)
        case "discord":
            return JsonSink(config, session, render_discord)
        case "teams":
            return JsonSink(config, session, render_teams)
    raise ValueError(f"unknown sink type {config.type!r}")


__all__ = ["Outcome", "ResolvedSink", "Sink", "make_sink"]
