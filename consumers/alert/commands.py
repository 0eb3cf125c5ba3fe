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
    click.echo(f"{rules.path}: {len(rules.rules)} rules, sinks: {', '.join(sorted(rules.sinks)) or 'none'}")


@rules_group.command("test")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="JSON lines of classified items (the value format of news.classified); - for stdin.",
)
@_rules_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item instead of text.")
@click.pass_obj
def rules_test(obj: Any, input_path: Path, rules_path: Path | None, as_json: bool) -> None:
    """Print which rules each item would fire, and why (suppression of repeats is not applied)."""
    rules = _rules(obj, rules_path)
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
