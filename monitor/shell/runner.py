"""Wire the process together for `newsmon run`: broker, demo server, stages, signals."""

from __future__ import annotations

import asyncio

import structlog

from monitor.ingest.feeds import FeedConfig
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import ConfigError, Settings
from monitor.shell.service import Stage, local_broker, run_service
from monitor.signals import install_signal_handlers

log = structlog.get_logger(__name__)

STAGE_NAMES = ("ingest", "classify", "alert", "deliver")
# Run by default only with `stories.enabled` (the alert stage then reads their output), else when named; the
# shadow stage runs only when named, for trying a rule or model change beside live.
OPTIONAL_STAGES = ("stories", "shadow")


def build_stages(
    settings: Settings,
    feeds: list[FeedConfig],
    only: list[str] | None,
    readiness: Readiness | None = None,
    status: StatusBoard | None = None,
) -> dict[str, Stage]:
    """The stages this process runs: all of them by default, or the ones named (one per container).

    Each reports whether it is ready into `readiness`, and what the status page shows into `status`.
    """
    readiness = readiness or Readiness()
    unknown = sorted(set(only or []) - set(STAGE_NAMES) - set(OPTIONAL_STAGES))
    if unknown:
        raise ConfigError(f"unknown stage {', '.join(unknown)} (known: {', '.join(STAGE_NAMES + OPTIONAL_STAGES)})")
    wanted = only or [*STAGE_NAMES, *(("stories",) if settings.stories.enabled else ())]
    stages: dict[str, Stage] = {}
    if "ingest" in wanted:
        stages["ingest"] = _ingest(settings, feeds, len(wanted) > 1, readiness, status or StatusBoard(readiness))
    if "classify" in wanted:
        from consumers.classify.stage import run_classifier

        stages["classify"] = lambda stop: run_classifier(settings, stop, readiness=readiness)
    if "stories" in wanted:
        from consumers.stories.stage import run_stories

        stages["stories"] = lambda stop: run_stories(settings, stop, readiness)
    if "shadow" in wanted:
        from consumers.alert.rules import load_rules
        from consumers.shadow.stage import load_shadow_model, run_shadow

        shadow_rules, shadow_model = load_rules(settings.alerts.rules_file), load_shadow_model(settings)
        stages["shadow"] = lambda stop: run_shadow(settings, stop, shadow_rules, shadow_model)
    if "alert" in wanted or "deliver" in wanted:
        # The rules file and the sinks' URLs are checked here, before any broker or stage starts.
        from consumers.alert.rules import load_rules
        from consumers.alert.stage import run_matcher
        from consumers.deliver.stage import resolve_sinks, run_delivery

        rules = load_rules(settings.alerts.rules_file)
        if "alert" in wanted:
            stages["alert"] = lambda stop: run_matcher(settings, stop, rules, readiness, status)
        if "deliver" in wanted:
            sinks = resolve_sinks(rules)
            stages["deliver"] = lambda stop: run_delivery(settings, stop, rules, sinks, readiness, status)
    return stages


def _ingest(
    settings: Settings, feeds: list[FeedConfig], with_others: bool, readiness: Readiness, status: StatusBoard
) -> Stage:
    if with_others and settings.ingest.own_process:
        from monitor.shell.child import ingest_in_child

        return ingest_in_child(settings, feeds, status)
    from monitor.ingest.stage import run_ingestion

    return lambda stop: run_ingestion(settings, feeds, stop, readiness, status)


async def run_main(
    settings: Settings, feeds: list[FeedConfig], *, demo: bool = False, only: list[str] | None = None
) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    demo_runner = None
    if demo:
        from monitor.shell.demo.server import demo_feeds, demo_ingest, start_demo_server

        demo_runner, base = await start_demo_server(step_s=10.0)
        feeds = demo_feeds(base, interval_s=5.0)
        # The demo polls every few seconds so a person sees stories arrive; real feeds keep the floor. Its feeds
        # live in their own registry, state topic and poller group, so a demo never replaces the configured feeds.
        topics = settings.topics.model_copy(
            update={
                "feed_registry": f"{settings.topics.feed_registry}.demo",
                "feed_state": f"{settings.topics.feed_state}.demo",
            }
        )
        group = f"{settings.ingest.group_id}-demo"
        ingest = demo_ingest(settings.ingest, group)
        settings = settings.model_copy(update={"ingest": ingest, "topics": topics})
        log.info("demo.serving", base_url=base, feeds=[f.id for f in feeds])
    readiness = Readiness()
    status = StatusBoard(readiness)
    stages = build_stages(settings, feeds, only, readiness, status)
    if demo:
        from monitor.shell.tail import tail

        async def _tail(ev: asyncio.Event) -> None:
            await tail(settings, [settings.topics.raw, settings.topics.classified], ev)

        stages["tail"] = _tail
    if "ingest" in stages and not feeds:
        # Feeds added with `newsmon feeds add` live in the registry topic, so an empty file is not an error.
        log.info("ingest.no_configured_feeds", hint="only feeds added with `newsmon feeds add` will be polled")
    try:
        async with local_broker(settings):
            await run_service(settings, stages, stop, readiness, status)
    finally:
        if demo_runner is not None:
            await demo_runner.cleanup()
    log.info("service.stopped")
