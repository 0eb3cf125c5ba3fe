"""`newsmon rules test|check` and `newsmon dlq list|replay`: alerting from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from consumers.alerts.rules import RuleSet, load_rules
from monitor.messages import ClassifiedItem, DecodeError, decode
from monitor.settings import Settings


def _rules(obj: Any, path: Path | None) -> RuleSet:
    settings: Settings = obj.settings
    return load_rules(path or settings.alerts.rules_file)


_rules_option = click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Rules file (default: alerts.rules_file).",
)


@click.group("rules")
def rules_group() -> None:
    """Alert rules (config/rules.yaml): check them, try them on items."""


@rules_group.command("check")
@_rules_option
@click.pass_obj
def rules_check(obj: Any, rules_path: Path | None) -> None:
    """Validate the rules file; exit 2 with the file, line and reason of every mistake."""
    rules = _rules(obj, rules_path)
    shadow = sum(r.spec.shadow for r in rules.rules)
    click.echo(f"{rules.path}: {len(rules.rules)} rules ({shadow} shadow), {len(rules.fixtures)} fixtures, "
               f"sinks: {', '.join(sorted(rules.sinks)) or 'none'}")  # fmt: skip


@rules_group.command("test")
@click.option(
    "--input",
    "input_path",
    default=None,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="JSON lines of classified items (the value format of news.classified); - for stdin. "
    "Without it, the rules file's fixtures are run.",
)
@click.option(
    "--items",
    "items_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="JSON lines of classified items that fixtures name by item_id.",
)
@_rules_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item instead of text.")
@click.pass_obj
def rules_test(
    obj: Any, input_path: Path | None, items_path: Path | None, rules_path: Path | None, as_json: bool
) -> None:
    """Run the rules file's fixtures (exit 1 on a miss), or print which rules each --input item would fire."""
    rules = _rules(obj, rules_path)
    if input_path is None:
        _run_fixtures(rules, items_path)
        return
    items = bad = firing = 0
    with click.open_file(str(input_path), "r", encoding="utf-8") as src:
        for n, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                c = decode(ClassifiedItem, line.encode("utf-8"))
            except DecodeError as exc:
                click.echo(f"{input_path}:{n}: {exc}", err=True)
                bad += 1
                continue
            items += 1
            matches = rules.matches(c)
            firing += bool(matches)
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "id": c.item.id,
                            "title": c.item.title,
                            "rules": [
                                {
                                    "id": r.id,
                                    "name": r.name,
                                    "reasons": reasons,
                                    "sinks": list(r.sinks),
                                    "mode": "digest" if r.digest_s else "immediate",
                                }
                                for r, reasons in matches
                            ],
                        },
                        ensure_ascii=False,
                    )
                )
                continue
            click.echo(f"{c.item.id}  {c.item.title}")
            for r, reasons in matches:
                mode = f", digest every {r.digest_s / 60:g} min" if r.digest_s else ""
                click.echo(f"  -> {r.id}: {'; '.join(reasons)} [sinks: {', '.join(r.sinks)}{mode}]")
            if not matches:
                click.echo("  -> no rule")
    click.echo(f"{items} items, {firing} would alert; {bad} bad lines", err=True)
    if bad:
        sys.exit(1)


def _run_fixtures(rules: RuleSet, items_path: Path | None) -> None:
    """Run every fixture; print each miss as `file:line: fixture: problem` and exit 1 if there is one."""
    from consumers.alerts.fixture_run import load_items, run_fixtures

    if not rules.fixtures:
        click.echo(f"{rules.path}: no fixtures to run (add a `fixtures:` list, or give --input)", err=True)
        sys.exit(1)
    try:
        items = load_items(items_path) if items_path is not None else {}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    misses = list(run_fixtures(rules, items))
    for miss in misses:
        click.echo(str(miss))
    failed = len({(m.where, m.fixture) for m in misses})
    click.echo(f"{len(rules.fixtures)} fixtures, {len(rules.fixtures) - failed} passed, {failed} failed", err=True)
    if misses:
        sys.exit(1)


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
    from consumers.alerts.dlq import list_letters

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
    from consumers.alerts.dlq import replay

    settings: Settings = obj.settings
    n = asyncio.run(replay(settings, sink, from_beginning=from_beginning, dry_run=dry_run))
    verb = "would replay" if dry_run else "replayed"
    click.echo(f"{verb} {n} alerts{f' for sink {sink}' if sink else ''} to {settings.topics.alerts}")
