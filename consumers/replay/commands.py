"""`newsmon replay`: what a model or rules change would have sent over a past range, compared with live."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from consumers.replay.request import Filters, ReplayInputError, ReplayRequest, parse_thresholds, parse_when
from monitor.messages import LABELS
from monitor.settings import Settings

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class BadReplayInput(click.ClickException):
    exit_code = EXIT_BAD_INPUT


def _topic(settings: Settings, topic: str | None) -> str:
    aliases = {"raw": settings.topics.raw, "classified": settings.topics.classified}
    return aliases.get(topic or "classified", topic or "")


def build_request(
    settings: Settings, topic: str | None, since: str | None, until: str | None, **opts: Any
) -> ReplayRequest:
    """The request the command line describes, with times resolved against the clock of this moment."""
    now = datetime.now(UTC)
    if since is None and opts.get("from_file") is None:
        raise ReplayInputError("give --since (a corpus file from `newsmon export` is replayed whole without it)")
    return ReplayRequest(
        topic=_topic(settings, topic),
        since=parse_when(since, now) if since else datetime.fromtimestamp(0, UTC),
        until=parse_when(until, now) if until else None,
        filters=Filters(opts["partitions"], opts["sources"], opts["feeds"], opts["langs"]),
        model_version=opts.get("model_version") or "",
        rules_path=opts.get("rules_path"),
        thresholds=parse_thresholds(opts.get("thresholds", ()), LABELS),
        labels_path=opts.get("labels_path"),
        target_precision=opts.get("target_precision", 0.9),
        examples=opts.get("examples", 10),
        from_file=opts.get("from_file"),
    )


def summary(report: dict[str, Any]) -> str:
    """A few lines for a person: items, alerts per rule, and the difference from live."""
    lines = [f"{report['records_read']} records read, {report['items']} items replayed"
             f"{' (PARTIAL: interrupted)' if report['partial'] else ''}"]  # fmt: skip
    lines.append("labels: " + ", ".join(f"{k} {v}" for k, v in report["labels"].items()))
    lines.append(f"alerts: {report['alerts']['total']}")
    lines += [f"  {rule}: {n}" for rule, n in report["alerts"]["by_rule"].items()]
    d = report["diff"]
    if d is not None:
        lines.append(f"against live ({d['live_alerts']} live alerts): {d['added']} added, {d['removed']} removed, "
                     f"{d['unchanged']} unchanged, {d['label_changes']} label changes")  # fmt: skip
    m = report["metrics"]
    if m is not None:
        for label, x in m["labels"].items():
            lines.append(f"{label}: P {x['precision']:.3f} R {x['recall']:.3f} F1 {x['f1']:.3f}; threshold for "
                         f"precision {m['target_precision']}: {x['threshold_for_target']}")  # fmt: skip
    return "\n".join(lines)


async def _run(settings: Settings, req: ReplayRequest) -> dict[str, Any]:
    from consumers.replay.progress import for_stream
    from consumers.replay.run import run_replay
    from monitor.signals import install_signal_handlers

    stop = asyncio.Event()
    install_signal_handlers(stop)
    return await run_replay(settings, req, stop, for_stream)


@click.command("replay")
@click.option("--topic", default=None, help="raw / news.raw: re-classify and match; classified (default): match.")
@click.option("--since", default=None, help="Start: ISO 8601 (UTC if no zone) or relative (7d, 12h, 30m).")
@click.option("--until", default=None, help="End (exclusive), as --since; default: now.")
@click.option("--partition", "partitions", type=int, multiple=True, help="Only this partition (repeatable).")
@click.option("--source", "sources", multiple=True, help="Only items of this source (repeatable).")
@click.option("--feed", "feeds", multiple=True, help="Only items of this feed id (repeatable).")
@click.option("--lang", "langs", multiple=True, help="Only items in this language (repeatable).")
@click.option("--model", "model_version", default=None, help="Model version (default: classifier.model_version).")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rules file (default: alerts.rules_file).")  # fmt: skip
@click.option("--threshold", "thresholds", multiple=True, help="LABEL=SCORE: decide LABEL at this score instead.")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='JSON lines {"id": ..., "labels": [...]}: precision, recall, F1 and a threshold sweep.')  # fmt: skip
@click.option("--target-precision", type=click.FloatRange(0, 1), default=0.9, show_default=True)
@click.option("--examples", type=click.IntRange(0, 1000), default=10, show_default=True, help="Examples per list.")
@click.option("--from-file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Replay a corpus written by `newsmon export` instead of the topic (no broker needed).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--report", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the report as one self-contained HTML page.")  # fmt: skip
@click.pass_obj
def replay(obj: Any, topic: str | None, since: str | None, until: str | None, as_json: bool, html_path: Path | None,
           **opts: Any) -> None:  # fmt: skip
    """Replay a past range in dry run with a model and rules file; nothing is sent or written to live topics."""
    settings: Settings = obj.settings
    try:
        req = build_request(settings, topic, since, until, **opts)
        report = asyncio.run(_run(settings, req))
    except ReplayInputError as exc:
        raise BadReplayInput(str(exc)) from exc
    if html_path is not None:
        from consumers.replay.html import write_html

        write_html(report, html_path)
    click.echo(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) if as_json else summary(report))
    if report["partial"]:
        sys.exit(EXIT_INTERRUPTED)


@click.command("export")
@click.option("--topic", default=None, help="raw / news.raw, or classified / news.classified (default).")
@click.option("--since", required=True, help="Start: ISO 8601 (UTC if no zone) or relative (7d, 12h, 30m).")
@click.option("--until", default=None, help="End (exclusive), as --since; default: now.")
@click.option("--partition", "partitions", type=int, multiple=True, help="Only this partition (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The corpus file to write (gzipped JSON lines, e.g. week.jsonl.gz).")  # fmt: skip
@click.pass_obj
def export_cmd(obj: Any, topic: str | None, since: str, until: str | None, partitions: tuple[int, ...],
               output: Path) -> None:  # fmt: skip
    """Save a range of a topic, with the live alerts of the range, for `newsmon replay --from-file`."""
    from consumers.replay.corpus import export

    settings: Settings = obj.settings
    try:
        req = build_request(settings, topic, since, until, partitions=partitions, sources=(), feeds=(), langs=())
        n = asyncio.run(export(settings, req, output, asyncio.Event()))
    except ReplayInputError as exc:
        raise BadReplayInput(str(exc)) from exc
    click.echo(f"{n} records of {req.topic} written to {output}")
