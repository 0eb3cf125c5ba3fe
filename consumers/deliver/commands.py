"""`newsmon dlq list|replay`: the dead-letter topic from the command line."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from monitor.settings import Settings


@click.group("dlq")
def dlq_group() -> None:
    """The dead-letter topic: what could not be processed or delivered, and redelivery."""


@dlq_group.command("list")
@click.option("--sink", default=None, help="Only letters of alerts that failed for this sink.")
@click.option("--limit", type=int, default=None, help="Only the newest N letters.")
@click.option("--json", "as_json", is_flag=True, help="The letters as JSON lines.")
@click.pass_obj
def dlq_list(obj: Any, sink: str | None, limit: int | None, as_json: bool) -> None:
    """List the dead letters still retained, oldest first."""
    from consumers.deliver.dlq import list_letters

    settings: Settings = obj.settings
    letters = asyncio.run(list_letters(settings))
    if sink is not None:
        letters = [x for x in letters if x.letter is not None and x.letter.sink == sink]
    if limit is not None:
        letters = letters[-limit:] if limit > 0 else []
    for x in letters:
        if x.letter is None:
            click.echo(f"{x.partition}:{x.offset}  unreadable record: {x.error}")
            continue
        d = x.letter
        if as_json:
            click.echo(
                json.dumps(
                    {"partition": x.partition, "offset": x.offset, **d.model_dump(mode="json")}, ensure_ascii=False
                )
            )
            continue
        alert = x.alert()
        what = f"alert {d.source_key} ({alert.rule_id}: {alert.item.item.title})" if alert else d.source_key
        at = d.model_dump(mode="json")["at"]
        click.echo(
            f"{x.partition}:{x.offset}  {at}  {d.error_class:9}  sink={d.sink or '-'}  attempts={d.attempts}"
            f"  {what}\n    {d.reason}"
        )
    click.echo(f"{len(letters)} dead letters in {settings.topics.dead_letter}", err=True)


@dlq_group.command("replay")
@click.option("--sink", default=None, help="Only alerts that failed for this sink.")
@click.option("--from-beginning", is_flag=True, help="Replay every retained letter, also those replayed before.")
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; send nothing.")
@click.pass_obj
def dlq_replay(obj: Any, sink: str | None, from_beginning: bool, dry_run: bool) -> None:
    """Deliver dead-lettered alerts again (the `deliver` stage picks them up from the alerts topic)."""
    from consumers.deliver.dlq import replay

    settings: Settings = obj.settings
    n = asyncio.run(replay(settings, sink, from_beginning=from_beginning, dry_run=dry_run))
    verb = "would replay" if dry_run else "replayed"
    click.echo(f"{verb} {n} alerts{f' for sink {sink}' if sink else ''} to {settings.topics.alerts}")
