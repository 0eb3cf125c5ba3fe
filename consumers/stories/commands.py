"""`newsmon stories eval | list | show`: story clustering from the command line."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from aiokafka.errors import KafkaError

from monitor.messages import Story
from monitor.settings import Settings
from monitor.stream.reader import TopicMissing


@click.group("stories")
def stories_group() -> None:
    """Stories: items from many outlets that report one real-world event."""


@stories_group.command("eval")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Labeled JSON lines (id, event, title, lead, published, url, places, labels); default: the "
                   "bundled set.")  # fmt: skip
@click.option("--places", type=click.Choice(["classifier", "labeled"]), default="classifier", show_default=True,
              help="Places and labels from the classifier (as the stage sees them) or as annotated.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.pass_obj
def stories_eval(obj: Any, input_path: Path | None, places: str, as_json: bool) -> None:
    """Cluster a labeled set in publication order; print B-cubed precision, recall and F1."""
    from consumers.stories.evaluate import LABELED, BadLabeledLine, classified_facts, evaluate, gold_facts, read_labeled
    from consumers.stories.params import params_from

    path = input_path or LABELED
    try:
        rows = read_labeled(path)
    except BadLabeledLine as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    facts = gold_facts(rows) if places == "labeled" else classified_facts(rows, _annotator(obj.settings))
    report = evaluate(rows, facts, params_from(obj.settings.stories))
    s = report.scores
    figures = {"input": str(path), "places": places, "items": report.items, "events": report.events,
               "stories": report.stories, "precision": round(s.precision, 4), "recall": round(s.recall, 4),
               "f1": round(s.f1, 4), "joined_by": report.reasons}  # fmt: skip
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"{report.items} items, {report.events} events -> {report.stories} stories ({places} places)")
    click.echo(f"B-cubed precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}")
    click.echo("joined by: " + ", ".join(f"{k} {v}" for k, v in sorted(report.reasons.items())))


def _annotator(settings: Settings) -> Any:
    """Places and labels of (title, lead) pairs from the current classifier."""
    from classifiers.model import ModelNotFoundError, NewsClassifier

    try:
        model = NewsClassifier.load(settings.classifier.model_dir, settings.classifier.model_version)
    except ModelNotFoundError as exc:
        raise click.ClickException(f"{exc} (train one with `newsmon train`, or use --places labeled)") from exc

    def annotate(pairs: list[tuple[str, str]]) -> list[tuple[list[Any], list[str]]]:
        return [(p.places, list(p.labels)) for p in model.predict(pairs)]

    return annotate


def _read(settings: Settings) -> list[Story]:
    """Every story on the topic; broker trouble becomes a one-line error and exit code 1."""
    from consumers.stories.listing import read_stories

    try:
        return asyncio.run(read_stories(settings))
    except TopicMissing as exc:
        raise click.ClickException(str(exc)) from exc
    except (KafkaError, TimeoutError) as exc:
        raise click.ClickException(
            f"cannot read {settings.topics.stories} from Kafka at {settings.kafka.bootstrap_servers} "
            f"({type(exc).__name__}: {exc}); is the broker running (`newsmon broker up`)?"
        ) from exc


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


@stories_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the stories closed (idle for a whole window).")
@click.option("--limit", type=int, default=50, show_default=True, help="Only the N most recently active.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.pass_obj
def stories_list(obj: Any, show_all: bool, limit: int, as_json: bool) -> None:
    """The open stories, most recently active first: id, outlets, members, last report, labels, headline."""
    from consumers.stories.listing import still_open

    settings: Settings = obj.settings
    stories = _read(settings)
    shown = stories if show_all else still_open(stories, settings.stories.window_h)
    for s in shown[: max(limit, 0)]:
        if as_json:
            click.echo(json.dumps({"story_id": s.story_id, "outlets": s.outlets, "members": s.member_count,
                                   "first_seen": _iso(s.first_seen), "last_seen": _iso(s.last_seen),
                                   "labels": s.labels, "headline": s.headline}, ensure_ascii=False))  # fmt: skip
            continue
        click.echo(f"{s.story_id}  outlets={s.outlets:<3} members={s.member_count:<4} {_when(s.last_seen)}  "
                   f"{','.join(s.labels) or '-'}  {s.headline}")  # fmt: skip
    click.echo(f"{len(shown)} {'stories' if show_all else 'open stories'} of {len(stories)} in "
               f"{settings.topics.stories}", err=True)  # fmt: skip


@stories_group.command("show")
@click.argument("story_id")
@click.option("--json", "as_json", is_flag=True, help="The whole record as JSON.")
@click.pass_obj
def stories_show(obj: Any, story_id: str, as_json: bool) -> None:
    """One story: headline, times, outlets, places, labels and every listed member."""
    settings: Settings = obj.settings
    found = [s for s in _read(settings) if s.story_id == story_id]
    if not found:
        raise click.ClickException(f"no story {story_id} in {settings.topics.stories}")
    s = found[0]
    if as_json:
        click.echo(s.model_dump_json(indent=2, exclude={"signatures"}))
        return
    click.echo(f"{s.story_id}: {s.headline}")
    click.echo(f"  reported by {s.outlets} outlets in {s.member_count} items, {_when(s.first_seen)} to "
               f"{_when(s.last_seen)} UTC")  # fmt: skip
    click.echo(f"  labels: {', '.join(s.labels) or '-'}")
    click.echo(f"  places: {', '.join(f'{p.name} ({p.code})' for p in s.places) or '-'}")
    for m in s.members:
        click.echo(f"  {_when(m.published)}  {m.domain:28} {m.lang or '--':3} {m.outlet}  {m.item_id}")
    if s.member_count > len(s.members):
        click.echo(f"  ... and {s.member_count - len(s.members)} more")


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
