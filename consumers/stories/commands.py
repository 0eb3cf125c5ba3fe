"""`newsmon stories eval | list | show`: story clustering from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from monitor.settings import Settings


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
