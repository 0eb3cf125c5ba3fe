"""Wire the process together for `newsmon run`: broker, demo server, stages, signals."""

from __future__ import annotations

import asyncio

import structlog

from monitor.ingest.feeds import FeedConfig
from monitor.service import Stage, install_signal_handlers, local_broker, run_service
from monitor.settings import Settings

log = structlog.get_logger(__name__)


def _extra_stages(settings: Settings) -> list[Stage]:
    """Stages after ingestion that exist in this build."""
    return []


async def run_main(settings: Settings, feeds: list[FeedConfig], *, demo: bool = False) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    async with local_broker(settings):
        stages = _extra_stages(settings)
        demo_runner = None
        if demo:
            from monitor.demo.server import demo_feeds, start_demo_server
            from monitor.tail import tail

            demo_runner, base = await start_demo_server(step_s=10.0)
            feeds = demo_feeds(base, interval_s=5.0)
            # The demo polls every few seconds so a person sees stories arrive; real feeds keep the floor.
            settings = settings.model_copy(
                update={"ingest": settings.ingest.model_copy(update={"min_interval_s": 1.0})}
            )
            log.info("demo.serving", base_url=base, feeds=[f.id for f in feeds])

            async def _tail(ev: asyncio.Event) -> None:
                await tail(settings, [settings.topics.raw], ev)

            stages.append(_tail)
        if not feeds:
            log.warning("ingest.no_feeds", hint="add feeds to config/feeds.yaml or run with --demo")
        try:
            await run_service(settings, feeds, stop, stages)
        finally:
            if demo_runner is not None:
                await demo_runner.cleanup()
    log.info("service.stopped")
