"""`newsmon feeds list|add|remove|check|health`: the shared feed registry and the feeds' health."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import click
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.fetcher import fetch, make_session
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parser import parse_feed
from monitor.ingest.policy import FeedHealth, feed_health
from monitor.ingest.registry import publish, read_registry, registration
from monitor.messages import TIERS, FeedRegistration, FeedState, RawItem, Tier, decode, utcnow
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.stream.reader import TopicMissing
from monitor.stream.table import read_latest
from monitor.topics import ensure_topics, topic_specs

T = TypeVar("T")


def _settings(obj: Any) -> Settings:
    settings: Settings = obj.settings
    return settings


def _run(settings: Settings, coro: Coroutine[Any, Any, T]) -> T:
    """Run one broker conversation; broker trouble becomes a one-line error and exit code 1."""
    try:
        return asyncio.run(coro)
    except TopicMissing as exc:
        raise click.ClickException(str(exc)) from exc
    except (KafkaError, TimeoutError) as exc:
        raise click.ClickException(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers} ({type(exc).__name__}: {exc}); "
            "is the broker running (`newsmon broker up`)?"
        ) from exc


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "never"


@click.group("feeds")
def feeds_group() -> None:
    """The feeds every poller shares (the registry topic): list, add, remove, check one, see their health."""


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed instead of a table.")
@click.pass_obj
def feeds_list(obj: Any, as_json: bool) -> None:
    """Print the registered feeds, from the feed list and added here."""
    s = _settings(obj)
    regs = _run(s, read_registry(s.kafka, s.topics.feed_registry))
    for reg in sorted(regs.values(), key=lambda r: r.feed_id):
        if as_json:
            times = reg.model_dump(mode="json", include={"added_at", "updated_at"})
            click.echo(json.dumps({**reg.feed, "id": reg.feed_id, "origin": reg.origin, **times}))
        else:
            interval = reg.feed.get("interval_s") or "auto"
            enabled = "" if reg.feed.get("enabled", True) else " (disabled)"
            click.echo(f"{reg.feed_id:32} {reg.origin:6} {interval!s:>6} {reg.feed.get('url', '')}{enabled}")
    if not as_json:
        click.echo(f"{len(regs)} feeds", err=True)


@feeds_group.command("add")
@click.argument("url")
@click.option("--id", "feed_id", default="", help="Feed id (default: host plus a short hash of the URL).")
@click.option("--name", default="", help="Outlet name carried on every item (default: the host).")
@click.option("--lang", default="", help="ISO 639-1 language of the feed.")
@click.option("--region", default="")
@click.option("--tier", type=click.Choice(TIERS), default="outlet", show_default=True, help="How far it is trusted.")
@click.option("--category", "categories", multiple=True, help="Category added to every item (repeatable).")
@click.option("--interval", "interval_s", type=float, default=None, help="Fixed poll interval in seconds.")
@click.option("--disabled", is_flag=True, help="Register the feed without polling it.")
@click.pass_obj
def feeds_add(
    obj: Any,
    url: str,
    feed_id: str,
    name: str,
    lang: str,
    region: str,
    tier: Tier,
    categories: tuple[str, ...],
    interval_s: float | None,
    disabled: bool,
) -> None:
    """Register a feed (or change a registered one); running pollers pick it up within seconds."""
    s = _settings(obj)
    try:
        feed = FeedConfig(url=url, id=feed_id, name=name, lang=lang, region=region, tier=tier,
                          categories=categories, interval_s=interval_s, enabled=not disabled)  # fmt: skip
    except ValidationError as exc:
        err = exc.errors()[0]
        raise click.BadParameter(f"{'.'.join(map(str, err['loc'])) or 'feed'}: {err['msg']}") from exc

    async def main() -> FeedRegistration | None:
        registry = [spec for spec in topic_specs(s.topics) if spec.name == s.topics.feed_registry]
        await ensure_topics(s.kafka, registry, s.topics.replication_factor)
        previous = (await read_registry(s.kafka, s.topics.feed_registry)).get(feed.id)
        await _write(s, [registration(feed, "cli", previous)], [])
        return previous

    previous = _run(s, main())
    click.echo(f"{'updated' if previous else 'added'} feed {feed.id}: {feed.url}")
    if previous is not None and previous.origin == "config":
        click.echo(f"note: {feed.id} is in the feed list ({s.ingest.feeds_file}); the list wins at the next "
                   "poller start", err=True)  # fmt: skip


@feeds_group.command("remove")
@click.argument("feed_id")
@click.pass_obj
def feeds_remove(obj: Any, feed_id: str) -> None:
    """Unregister a feed; the poller that owns it stops polling it."""
    s = _settings(obj)

    async def main() -> FeedRegistration | None:
        current = (await read_registry(s.kafka, s.topics.feed_registry)).get(feed_id)
        if current is not None:
            await _write(s, [], [feed_id])
        return current

    removed = _run(s, main())
    if removed is None:
        raise click.ClickException(f"no feed {feed_id!r} in the registry (see `newsmon feeds list`)")
    click.echo(f"removed feed {feed_id}")
    if removed.origin == "config":
        click.echo(f"note: {feed_id} is in the feed list ({s.ingest.feeds_file}); remove it there too, or the next "
                   "poller start registers it again", err=True)  # fmt: skip


async def _write(s: Settings, upserts: list[FeedRegistration], removals: list[str]) -> None:
    producer = make_producer(s.kafka)
    await producer.start()
    try:
        await publish(producer, s.topics.feed_registry, upserts, removals)
    finally:
        await producer.stop()


@feeds_group.command("check")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item (the news.raw value).")
@click.option("--lang", default="", help="Language to assume when the feed names none.")
@click.pass_obj
def feeds_check(obj: Any, url: str, as_json: bool, lang: str) -> None:
    """Fetch one feed now and print the items a poller would produce from it; no broker needed.

    A failure prints its error class (e.g. `not_a_feed`, `timeout`) and exits with code 1.
    """
    s = _settings(obj)
    try:
        feed = FeedConfig(url=url, lang=lang)
    except ValidationError as exc:
        _fail(FeedError(ErrorKind.BAD_URL, exc.errors()[0]["msg"]))
    try:
        title, items = asyncio.run(check_feed(s, feed))
    except FeedError as exc:
        _fail(exc)
    for item in items:
        if as_json:
            click.echo(item.model_dump_json())
        else:
            click.echo(f"{_when(item.published)}  {item.title}\n    {item.url or item.id}")
    if not as_json:
        click.echo(f"{title or feed.url}: {len(items)} items", err=True)


def _fail(exc: FeedError) -> Any:
    click.echo(f"error: {exc}", err=True)  # starts with the error class, e.g. "not_a_feed: ..."
    sys.exit(1)


async def check_feed(s: Settings, feed: FeedConfig) -> tuple[str, list[RawItem]]:
    """Fetch, parse and normalize one feed the way a poller's first poll would; raise FeedError on failure."""
    now = utcnow()
    async with make_session(s.ingest) as session:
        result = await fetch(session, feed.url, s.ingest)
    parsed = await asyncio.to_thread(parse_feed, result.body, result.headers, result.url, s.ingest.parser)
    window = timedelta(seconds=feed.interval_s or s.ingest.default_interval_s)
    items, _ = normalize_entries(
        parsed,
        feed,
        fetched_at=now,
        backfill_before=now - window,
        title_max=s.ingest.title_max_chars,
        summary_max=s.ingest.summary_max_chars,
    )
    return parsed.title, items


def health_of(reg: FeedRegistration, state: FeedState | None) -> FeedHealth:
    """The health of a registered feed from its latest poller state."""
    return feed_health(state, reg.feed.get("url", ""), enabled=reg.feed.get("enabled", True))


async def _read_health(s: Settings) -> list[tuple[FeedRegistration, FeedState | None]]:
    regs = await read_registry(s.kafka, s.topics.feed_registry)
    states = await read_latest(s.kafka, s.topics.feed_state, partial(decode, FeedState))
    return [(reg, states.get(fid)) for fid, reg in sorted(regs.items())]


@feeds_group.command("health")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_obj
def feeds_health(obj: Any, as_json: bool) -> None:
    """List the registered feeds by health (failing, disabled, silent, never_polled, healthy) with the last error."""
    s = _settings(obj)
    rows = _run(s, _read_health(s))
    # FeedHealth lists what needs attention first.
    groups: dict[FeedHealth, list[tuple[FeedRegistration, FeedState | None]]] = {h: [] for h in FeedHealth}
    for reg, state in rows:
        groups[health_of(reg, state)].append((reg, state))
    for health, members in groups.items():
        if not as_json and members:
            click.echo(f"{health.value} ({len(members)})")
        for reg, state in members:
            click.echo(json.dumps(_health_record(reg, state, health)) if as_json else _health_line(reg, state))


def _health_record(reg: FeedRegistration, state: FeedState | None, health: FeedHealth) -> dict[str, Any]:
    fields = {"last_success", "last_attempt", "next_poll_at", "consecutive_errors", "last_error_kind", "last_error",
              "error_counts", "disabled_reason", "silent"}  # fmt: skip
    detail = state.model_dump(mode="json", include=fields) if state is not None else {}
    return {"id": reg.feed_id, "url": reg.feed.get("url", ""), "state": health.value, **detail}


def _health_line(reg: FeedRegistration, state: FeedState | None) -> str:
    line = f"  {reg.feed_id:32} last success {_when(state.last_success if state else None)}"
    if state is not None and state.disabled_reason:
        line += f"  disabled: {state.disabled_reason}"
    if state is not None and state.consecutive_errors:
        line += f"  {state.consecutive_errors} errors in a row"
    if state is not None and state.last_error:
        line += f"  last error: {state.last_error}"
    return line
