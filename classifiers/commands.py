"""`newsmon classify | train | eval`: the classifier from the command line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from classifiers.dataset import DATA_DIR
from classifiers.text import model_text
from monitor.messages import LABELS
from monitor.settings import Settings

if TYPE_CHECKING:
    from classifiers.model import NewsClassifier

_BATCH = 1000


class BadLine(ValueError):
    """An input line that is not a JSON object with the required fields (bad input)."""


def parse_line(line: str, required: tuple[str, ...] = ("id", "title")) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise BadLine("not a JSON object")
    for key in required:
        if key not in obj:
            raise BadLine(f"missing {key!r}")
    for key in ("title", "summary"):
        if key in obj and not isinstance(obj[key], str):
            raise BadLine(f"{key!r} must be a string")
    if not isinstance(obj.get("title_derived", False), bool):
        raise BadLine("'title_derived' must be true or false")
    if "id" in obj and not isinstance(obj["id"], (str, int)):
        raise BadLine("'id' must be a string or number")
    return obj


def row_text(row: dict[str, Any]) -> str:
    """The text the model scores for an input row, built as the Kafka stage builds it for a `news.raw` item."""
    return model_text(str(row.get("title", "")), str(row.get("summary", "") or ""), row.get("title_derived") is True)


def _batches(stream: IO[str], required: tuple[str, ...]) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """Batches of valid rows, with an error message per bad line (line number first)."""
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            rows.append(parse_line(line, required))
        except BadLine as exc:
            errors.append(f"line {n}: {exc}")
        if len(rows) >= _BATCH:
            yield rows, errors
            rows, errors = [], []
    if rows or errors:
        yield rows, errors


def _load(settings: Settings, version: str | None) -> NewsClassifier:
    # scikit-learn takes seconds to import; only the commands that score pay for it.
    from classifiers.model import ModelNotFoundError, NewsClassifier

    try:
        return NewsClassifier.load(settings.classifier.model_dir, version or settings.classifier.model_version)
    except ModelNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--output", "output_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--text", help="Classify one text and print scores, labels, places and the explanation.")
@click.option("--model", "version", default=None, help="Model version under classifier.model_dir.")
@click.pass_obj
def classify(
    obj: Any, input_path: Path | None, output_path: Path | None, text: str | None, version: str | None
) -> None:
    """Classify items: --input IN.jsonl --output OUT.jsonl (id, title, summary[, title_derived] a line), or --text."""
    settings: Settings = obj.settings
    if text is None and input_path is None:
        raise click.UsageError("give --input (with --output) or --text")
    model = _load(settings, version)
    if text is not None:
        title, _, summary = text.partition("\n")
        p = model.predict([(title, summary)], explain=5)[0]
        click.echo(json.dumps({
            "scores": p.scores, "labels": p.labels, "model": model.version,
            "places": [pl.model_dump() for pl in p.places],
            "explanation": {k: [c.model_dump() for c in v] for k, v in p.explanation.items()},
        }, ensure_ascii=False, indent=2))  # fmt: skip
        return
    assert input_path is not None
    if output_path is None:
        raise click.UsageError("--input needs --output (use - for stdout)")
    bad = done = 0
    started, cpu_started = time.monotonic(), time.process_time()
    with click.open_file(str(input_path), "r", encoding="utf-8") as src, \
         click.open_file(str(output_path), "w", encoding="utf-8") as dst:  # fmt: skip
        for rows, errors in _batches(src, ("id", "title")):
            for e in errors:
                click.echo(f"{input_path}: {e}", err=True)
            bad += len(errors)
            preds = model.predict_texts([row_text(r) for r in rows])
            for r, p in zip(rows, preds, strict=True):
                dst.write(json.dumps({"id": r["id"], "scores": p.scores, "labels": p.labels, "model": model.version},
                                     ensure_ascii=False) + "\n")  # fmt: skip
            done += len(rows)
    rate = done / max(time.monotonic() - started, 1e-9)
    # Per second of this process's CPU time too: on a busy machine that is what one free core would do.
    cpu_rate = done / max(time.process_time() - cpu_started, 1e-9)
    click.echo(f"classified {done} items ({rate:.0f}/s, {cpu_rate:.0f}/s of CPU time) with model {model.version}; "
               f"{bad} bad lines", err=True)  # fmt: skip
    if bad:
        sys.exit(1)


@click.command()
@click.option("--if-stale", is_flag=True, help="Do nothing when a model for the current data and code exists.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=DATA_DIR,
              show_default=False, help="Folder of labeled *.jsonl files (default: the bundled dataset).")  # fmt: skip
@click.pass_obj
def train(obj: Any, if_stale: bool, data_dir: Path) -> None:
    """Train the classifier on the bundled data and save models/<version>/."""
    from classifiers.train import is_current
    from classifiers.train import train as run_training

    settings: Settings = obj.settings
    models_dir = settings.classifier.model_dir
    if if_stale:
        current = is_current(models_dir, data_dir)
        if current:
            click.echo(f"model {current} is up to date")
            return
    started = time.monotonic()
    version, manifest = run_training(data_dir, models_dir, progress=lambda m: click.echo(f"train: {m}", err=True))
    test = manifest["metrics"]["test"]["labels"]
    summary = ", ".join(f"{lb} P={test[lb]['precision']:.3f} R={test[lb]['recall']:.3f} F1={test[lb]['f1']:.3f}"
                        for lb in LABELS)  # fmt: skip
    click.echo(f"saved {models_dir / version} in {time.monotonic() - started:.1f}s; test split: {summary}")


@click.command("eval")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--model", "version", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.pass_obj
def evaluate_cmd(obj: Any, input_path: Path, version: str | None, as_json: bool) -> None:
    """Evaluate on labeled lines (title, summary, labels, lang, category): P/R/F1 per label, language and category."""
    from classifiers.evaluate import by_category, category_lines
    from classifiers.train import Labeled, evaluate

    model = _load(obj.settings, version)
    rows: list[Labeled] = []
    categories: list[str] = []
    bad = 0
    with click.open_file(str(input_path), "r", encoding="utf-8") as src:
        for batch, errors in _batches(src, ("title", "labels")):
            for e in errors:
                click.echo(f"{input_path}: {e}", err=True)
            bad += len(errors)
            for r in batch:
                labels = tuple(x for x in r["labels"] if x in LABELS)
                rows.append(Labeled(r["title"], str(r.get("summary") or ""), labels, str(r.get("lang") or "")))
                categories.append(str(r.get("category") or ""))
    if not rows:
        raise click.ClickException("no valid labeled lines")
    report = evaluate(model, rows)
    if any(categories):
        report["by_category"] = by_category(model, rows, categories)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"model {model.version}, {report['n']} items")
        click.echo(f"{'scope':8} {'label':22} {'n':>5} {'P':>6} {'R':>6} {'F1':>6}   tp   fp   fn   tn")
        scopes = [("all", report["labels"]), *sorted(report["by_lang"].items())]
        for scope, block in scopes:
            for lb in LABELS:
                m = block[lb]
                click.echo(f"{scope:8} {lb:22} {block['n']:5d} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}"
                           f" {m['tp']:4d} {m['fp']:4d} {m['fn']:4d} {m['tn']:4d}")  # fmt: skip
        if "by_category" in report:
            click.echo("\n".join(category_lines(report["by_category"])))
    if bad:
        sys.exit(1)
