"""Building blocks for alerting tests: classified items, rules files, stage runners, topic readers."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from consumers.alert.rules import RuleSet, parse_rules
from consumers.alert.stage import run_matcher
from consumers.deliver.stage import resolve_sinks, run_delivery
from monitor.messages import ClassifiedItem, Contribution, DeadLetter, Delivery, Place, RawItem, decode, encode
from monitor.ops.readiness import Readiness
from monitor.settings import AlertSettings, Settings
from monitor.stream.clients import make_producer
from tests.support.kafka import group_caught_up, read_topic

# A webhook signing secret of the minimum length newsmon accepts (32 bytes).
SECRET = "s3cret-key-for-signing-webhooks!"
# The start of a rules file whose rules all write to the file sink; a test appends its rules.
FILE_SINK_RULES = """\
version: 1
sinks:
  out: {type: file}
defaults: {sinks: [out]}
rules:
"""


def classified(
    i: int | str,
    title: str = "",
    *,
    incident: float = 0.9,
    election: float = 0.1,
    places: tuple[str, ...] = ("UA", "RU"),
    backfill: bool = False,
    update: bool = False,
    summary: str = "Shelling across the border.",
    source: str = "Wire",
    lang: str = "en",
    labels: tuple[str, ...] | None = None,
) -> ClassifiedItem:
    now = datetime.now(UTC)
    raw = RawItem(
        id=f"item-{i}",
        feed_id="wire-feed",
        feed_url="https://wire.example/rss",
        source=source,
        url=f"https://wire.example/story/{i}",
        title=title or f"Border incident number {i}",
        summary=summary,
        published=now,
        fetched_at=now,
        content_hash=f"h{i}",
        lang=lang,
        backfill=backfill,
        update=update,
    )
    scores = {"cross_border_incident": incident, "election": election}
    # The model's own decision; by default a plain 0.5 threshold.
    chosen: list[Any] = list(labels) if labels is not None else [k for k, v in scores.items() if v >= 0.5]
    return ClassifiedItem(
        item=raw,
        scores=scores,
        labels=chosen,
        model="test-model",
        places=[Place(code=c, name=c) for c in places],
        explanation={
            "cross_border_incident": [
                Contribution(feature="border", weight=1.3),
                Contribution(feature="shelling", weight=0.7),
            ]
        },
    )


def fast(settings: Settings, **overrides: Any) -> Settings:
    """Settings with retries, breaker and commits on test time scales, and consumer groups unique to the test."""
    prefix = settings.topics.classified.split(".", 1)[0]
    values: dict[str, Any] = {
        "matcher_group_id": f"{prefix}-alert",
        "delivery_group_id": f"{prefix}-deliver",
        "shadow_group_id": f"{prefix}-shadow",
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.4,
        "breaker_failures": 5,
        "breaker_cooldown_s": 0.5,
        "max_age_s": 60.0,
        "commit_interval_s": 0.2,
        "drain_timeout_s": 5.0,
    }
    values.update(overrides)
    return settings.model_copy(update={"alerts": AlertSettings.model_validate(values)})


def webhook_rules(
    tmp_path: Path,
    urls: dict[str, str],
    *,
    secret: str = SECRET,
    extra_rules: str = "",
    sink_options: str = "",
    rule_options: str = "",
) -> RuleSet:
    """A rules set with one webhook sink per URL and a rule sending cross-border incidents to all of them."""
    (tmp_path / "webhook.secret").write_text(secret + "\n")
    sinks = "".join(
        f"  {name}:\n    type: webhook\n    url: {url}\n    key_id: k2\n"
        f"    secret_file: {tmp_path / 'webhook.secret'}\n{sink_options}"
        for name, url in urls.items()
    )
    text = (
        f"version: 1\nsinks:\n{sinks}rules:\n  - id: incidents\n    name: Incidents\n"
        f"    labels: {{cross_border_incident: 0.6}}\n    sinks: [{', '.join(urls)}]\n{rule_options}{extra_rules}"
    )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return parse_rules(text, path)


async def produce(settings: Settings, items: list[ClassifiedItem]) -> None:
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        futures = [await producer.send(settings.topics.classified, encode(c), key=c.key().encode()) for c in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def alerting(
    settings: Settings,
    rules: RuleSet,
    *,
    matcher: bool = True,
    delivery: bool = True,
    readiness: Readiness | None = None,
) -> AsyncIterator[asyncio.Event]:
    """Run the alert and deliver stages in this process until the block ends; re-raise what they raised."""
    stop = asyncio.Event()
    tasks = []
    if matcher:
        tasks.append(asyncio.create_task(run_matcher(settings, stop, rules, readiness)))
    if delivery:
        tasks.append(asyncio.create_task(run_delivery(settings, stop, rules, resolve_sinks(rules), readiness)))
    try:
        yield stop
    finally:
        stop.set()
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        for result in done:
            if isinstance(result, BaseException):
                raise result


async def alerting_caught_up(settings: Settings) -> bool:
    """Whether the alert stage has committed all of news.classified and the deliver stage all of news.alerts."""
    bootstrap, a = settings.kafka.bootstrap_servers, settings.alerts
    matched = await group_caught_up(bootstrap, a.matcher_group_id, settings.topics.classified)
    return matched and await group_caught_up(bootstrap, a.delivery_group_id, settings.topics.alerts)


async def deliveries(settings: Settings, **kw: Any) -> list[Delivery]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.deliveries, **kw)
    return [decode(Delivery, r.value) for r in recs]


async def dead_letters(settings: Settings, **kw: Any) -> list[DeadLetter]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.dead_letter, **kw)
    return [decode(DeadLetter, r.value) for r in recs]


@contextlib.contextmanager
def rendered_logs() -> Iterator[io.StringIO]:
    """Log lines rendered as in production (JSON, tracebacks included), collected for the test to search."""
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    try:
        yield out
    finally:
        structlog.reset_defaults()
