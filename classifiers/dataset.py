"""The labeled training data: loading, validation, a story-level split and the data hash."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from monitor.messages import LABELS

DATA_DIR = Path(__file__).resolve().parent / "data" / "src"
SPLITS = ("train", "validation", "test")
_KINDS = {"positive", "hard_negative", "negative"}


class DatasetError(ValueError):
    """A line of the training data is malformed (bad input; the line and reason are in the message)."""


@dataclass(frozen=True)
class Example:
    story: str
    title: str
    summary: str
    labels: tuple[str, ...]
    lang: str
    countries: tuple[str, ...]
    style: str
    kind: str
    source: str  # file:line

    @property
    def split(self) -> str:
        return split_of(self.story)


def split_of(story: str) -> str:
    """Assign a story to a split by a hash of its id, so every example of one story lands in the same split."""
    bucket = int(hashlib.sha256(story.encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else ("validation" if bucket < 85 else "test")


def _parse(line: str, where: str) -> Example:
    try:
        d = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not JSON: {exc}") from exc
    missing = {"story", "title", "summary", "labels", "lang", "kind"} - set(d)
    if missing:
        raise DatasetError(f"{where}: missing {sorted(missing)}")
    labels = tuple(d["labels"])
    if any(lb not in LABELS for lb in labels):
        raise DatasetError(f"{where}: unknown label in {labels}")
    if d["kind"] not in _KINDS or (d["kind"] == "positive") != bool(labels):
        raise DatasetError(f"{where}: kind {d['kind']!r} does not agree with labels {labels}")
    return Example(
        story=str(d["story"]),
        title=str(d["title"]),
        summary=str(d["summary"]),
        labels=labels,
        lang=str(d["lang"]),
        countries=tuple(d.get("countries", [])),
        style=str(d.get("style", "")),
        kind=str(d["kind"]),
        source=where,
    )


def load_examples(data_dir: Path = DATA_DIR) -> list[Example]:
    """Every example of every `*.jsonl` file in the folder, in a stable order."""
    out: list[Example] = []
    for path in sorted(data_dir.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                out.append(_parse(line, f"{path.name}:{n}"))
    if not out:
        raise DatasetError(f"no examples under {data_dir}")
    return out


def data_hash(data_dir: Path = DATA_DIR) -> str:
    h = hashlib.sha256()
    for path in sorted(data_dir.glob("*.jsonl")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def statistics(examples: list[Example]) -> dict[str, object]:
    """Counts the dataset card reports."""
    countries = {c for e in examples for c in e.countries}
    return {
        "examples": len(examples),
        "stories": len({e.story for e in examples}),
        "countries": len(countries),
        "by_split": dict(Counter(e.split for e in examples)),
        "by_kind": dict(Counter(e.kind for e in examples)),
        "by_lang": dict(sorted(Counter(e.lang for e in examples).items())),
        "by_label": dict(Counter(lb for e in examples for lb in e.labels)),
        "both_labels": sum(1 for e in examples if len(e.labels) == 2),
        "negatives_share": round(sum(1 for e in examples if not e.labels) / len(examples), 3),
    }


def statistics_markdown(examples: list[Example]) -> str:
    """The statistics section of the dataset card, so the card is regenerated rather than retyped."""
    s = statistics(examples)
    kinds: dict[str, int] = s["by_kind"]  # type: ignore[assignment]
    labels: dict[str, int] = s["by_label"]  # type: ignore[assignment]
    splits: dict[str, int] = s["by_split"]  # type: ignore[assignment]
    lines = [
        f"{s['examples']:,} examples in {s['stories']:,} stories, mentioning {s['countries']} countries.",
        "",
        "| | count |",
        "|---|---:|",
        *(f"| label `{lb}` | {labels.get(lb, 0)} |" for lb in LABELS),
        f"| both labels | {s['both_labels']} |",
        *(f"| kind `{k}` | {kinds.get(k, 0)} |" for k in sorted(_KINDS)),
        f"| share without a label | {s['negatives_share']:.1%} |",
        *(f"| split `{k}` | {splits.get(k, 0)} |" for k in SPLITS),
        "",
        "| language | examples | cross_border_incident | election | hard negatives | negatives |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for lang in sorted({e.lang for e in examples}):
        mine = [e for e in examples if e.lang == lang]
        count = Counter(lb for e in mine for lb in e.labels)
        kind = Counter(e.kind for e in mine)
        lines.append(
            f"| {lang} | {len(mine)} | {count['cross_border_incident']} | {count['election']} "
            f"| {kind['hard_negative']} | {kind['negative']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(statistics_markdown(load_examples()))
