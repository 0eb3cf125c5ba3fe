"""Precision, recall and F1 against hand labels, and the threshold sweep that finds a target precision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consumers.replay.evaluate import Seen
from consumers.replay.request import ReplayInputError
from monitor.messages import LABELS

# The sweep's step; the report lists every fifth point, the chosen threshold is searched on all of them.
_STEPS = 100


def _parse_label_line(line: str, where: str) -> tuple[str, frozenset[str]]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ReplayInputError(f"{where}: not JSON ({exc.msg})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("labels"), list):
        raise ReplayInputError(f'{where}: give {{"id": "<item id>", "labels": [...]}}')
    unknown = sorted(set(obj["labels"]) - set(LABELS))
    if unknown:
        raise ReplayInputError(f"{where}: unknown label {unknown[0]!r} (known: {', '.join(LABELS)})")
    return obj["id"], frozenset(obj["labels"])


def load_labels(path: Path | None) -> dict[str, frozenset[str]]:
    """Item id -> the labels a person gave it, from JSON lines `{"id": ..., "labels": [...]}`."""
    if path is None:
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReplayInputError(f"cannot read labels file {path}: {exc.strerror}") from exc
    out = dict(_parse_label_line(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip())
    if not out:
        raise ReplayInputError(f"labels file {path} holds no labels")
    return out


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


class Scorecard:
    """Collects scores of labelled items as they are replayed (memory bounded by the labels file)."""

    def __init__(self, truth: dict[str, frozenset[str]], target_precision: float) -> None:
        self._truth = truth
        self._target = target_precision
        self._seen: dict[str, tuple[dict[str, float], frozenset[str]]] = {}

    def see(self, seen: Seen) -> None:
        j = seen.item
        if j.item_id in self._truth and j.item_id not in self._seen:
            self._seen[j.item_id] = (j.scores, frozenset(j.labels))

    def _counts(self, label: str, decide: Any) -> dict[str, float | int]:
        tp = fp = fn = 0
        for item_id, (scores, labels) in self._seen.items():
            actual, predicted = label in self._truth[item_id], decide(scores, labels)
            tp += actual and predicted
            fp += predicted and not actual
            fn += actual and not predicted
        return _prf(tp, fp, fn)

    def _label(self, label: str) -> dict[str, Any]:
        sweep = [(i / _STEPS, self._counts(label, lambda s, _, t=i / _STEPS: s.get(label, 0.0) >= t))
                 for i in range(_STEPS + 1)]  # fmt: skip
        reaching = [t for t, m in sweep if m["precision"] >= self._target and m["tp"]]
        return {
            **self._counts(label, lambda _, labels: label in labels),
            "support": sum(label in self._truth[i] for i in self._seen),
            "sweep": [{"threshold": t, "precision": m["precision"], "recall": m["recall"]} for t, m in sweep[::5]],
            "threshold_for_target": min(reaching) if reaching else None,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "labelled": len(self._truth),
            "labelled_replayed": len(self._seen),
            "target_precision": self._target,
            "labels": {label: self._label(label) for label in LABELS},
        }
