"""`newsmon rules check|test`: the alert rules from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from consumers.alert.rules import RuleSet, load_rules
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
    from consumers.alert.fixture_run import load_items, run_fixtures

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
