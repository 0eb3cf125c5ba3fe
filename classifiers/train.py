"""Training, threshold selection and evaluation of the news classifier."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from classifiers.dataset import DATA_DIR, Example, data_hash, load_examples, statistics
from classifiers.features import DomainFeatures
from classifiers.model import MODEL_REVISION, Features, ModelNotFoundError, NewsClassifier
from classifiers.text import model_text
from classifiers.vectorize import N_FEATURES
from monitor.messages import LABELS

_C_GRID = (2.0, 8.0, 32.0)
_CODE_FILES = ("dataset.py", "features.py", "gazetteer.py", "lexicon.py", "lexicon_context.py", "lexicon_world.py",
               "model.py", "scripts.py", "text.py", "train.py", "vectorize.py")  # fmt: skip


@dataclass(frozen=True)
class Labeled:
    title: str
    summary: str
    labels: tuple[str, ...]
    lang: str = ""


def _code_digest() -> str:
    # Features and training code decide what a model is, so their source is part of its identity.
    h = hashlib.sha256(f"{MODEL_REVISION}|{sklearn.__version__}".encode())
    for name in _CODE_FILES:
        h.update((Path(__file__).resolve().parent / name).read_bytes())
    return h.hexdigest()


def model_version(digest: str) -> str:
    return f"r{MODEL_REVISION}-{digest[:10]}-{_code_digest()[:6]}"


def _targets(examples: Iterable[Labeled | Example]) -> dict[str, np.ndarray]:
    rows = list(examples)
    return {label: np.array([label in e.labels for e in rows], dtype=int) for label in LABELS}


def _design(f: Features) -> sparse.csr_matrix:
    ngrams = sparse.csr_matrix((f.ngrams.data, f.ngrams.indices, f.ngrams.indptr), shape=(f.ngrams.rows, N_FEATURES))
    x = sparse.hstack([ngrams, sparse.csr_matrix(f.domain)], format="csr")
    x.sort_indices()
    return x


def fit(
    texts: list[str], y: dict[str, np.ndarray], c: float, domain: DomainFeatures
) -> tuple[NewsClassifier, dict[str, LogisticRegression]]:
    """One class-balanced logistic regression per label; its weights are exported into the scoring model."""
    model = NewsClassifier(domain)
    model.fit_idf(model.ngrams.transform(texts))
    x = _design(model.features(texts))
    fitted: dict[str, LogisticRegression] = {}
    for k, label in enumerate(LABELS):
        lr = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=2000).fit(x, y[label])
        model.coef[k] = lr.coef_[0]
        model.intercept[k] = lr.intercept_[0]
        fitted[label] = lr
    return model, fitted


def calibrate(
    model: NewsClassifier, fitted: dict[str, LogisticRegression], texts: list[str], y: dict[str, np.ndarray]
) -> None:
    """Platt-scale each label on held-out data, and check the exported scaling reproduces scikit-learn's."""
    f = model.features(texts)
    x = _design(f)
    for k, label in enumerate(LABELS):
        cal = CalibratedClassifierCV(FrozenEstimator(fitted[label]), method="sigmoid").fit(x, y[label])
        sigmoid = cal.calibrated_classifiers_[0].calibrators[0]
        model.calibration[k] = (float(sigmoid.a_), float(sigmoid.b_))
        ours = model.probabilities(model.logits(f))[k]
        theirs = cal.predict_proba(x)[:, 1]
        if not np.allclose(ours, theirs, atol=1e-4):
            raise RuntimeError(f"exported {label} model disagrees with scikit-learn by {np.abs(ours - theirs).max()}")


# F1 within this much of the best counts as a tie (about one item's worth on the validation split), and the lowest
# of the tied thresholds keeps recall on new copy. A wider band traded too much precision for recall.
_TIE = 0.01


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold with the best F1 on held-out data; among near-ties the lowest, since recall matters more."""
    best_f1, candidates = -1.0, []
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        pred = p >= t
        tp = int((pred & (y == 1)).sum())
        fp = int((pred & (y == 0)).sum())
        fn = int((~pred & (y == 1)).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        candidates.append((float(t), f1))
        best_f1 = max(best_f1, f1)
    return min(t for t, f1 in candidates if f1 >= best_f1 - _TIE)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def evaluate(model: NewsClassifier, rows: list[Labeled]) -> dict[str, Any]:
    """Per-label precision, recall, F1 and confusion counts, overall and per language."""
    preds = model.predict([(r.title, r.summary) for r in rows])
    langs = sorted({r.lang or "?" for r in rows})
    report: dict[str, Any] = {"n": len(rows), "labels": {}, "by_lang": {}}
    for scope in ["all", *langs]:
        idx = [i for i, r in enumerate(rows) if scope == "all" or (r.lang or "?") == scope]
        block: dict[str, Any] = {"n": len(idx)}
        for label in LABELS:
            tp = sum(1 for i in idx if label in preds[i].labels and label in rows[i].labels)
            fp = sum(1 for i in idx if label in preds[i].labels and label not in rows[i].labels)
            fn = sum(1 for i in idx if label not in preds[i].labels and label in rows[i].labels)
            tn = len(idx) - tp - fp - fn
            block[label] = {**_prf(tp, fp, fn), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": tp + fn}
        if scope == "all":
            report["labels"] = block
        else:
            report["by_lang"][scope] = block
    return report


def train(
    data_dir: Path = DATA_DIR, models_dir: Path = Path("models"), progress: Callable[[str], None] = lambda _: None
) -> tuple[str, dict[str, Any]]:
    """Train on the train split, pick C and calibrate on validation, report on test; save a versioned artifact."""
    examples = load_examples(data_dir)
    digest = data_hash(data_dir)
    splits = {s: [e for e in examples if e.split == s] for s in ("train", "validation", "test")}
    text = {s: [model_text(e.title, e.summary) for e in rows] for s, rows in splits.items()}
    y = {s: _targets(rows) for s, rows in splits.items()}
    progress(f"{len(examples)} examples: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))

    domain = DomainFeatures()
    best: tuple[float, float] | None = None
    for c in _C_GRID:
        m, _ = fit(text["train"], y["train"], c, domain)
        scores = m.score_texts(text["validation"])
        ap = float(np.mean([average_precision_score(y["validation"][lb], scores[lb]) for lb in LABELS]))
        progress(f"C={c}: validation average precision {ap:.4f}")
        if best is None or ap > best[1]:
            best = (c, ap)
    assert best is not None
    model, fitted = fit(text["train"], y["train"], best[0], domain)
    calibrate(model, fitted, text["validation"], y["validation"])
    val_scores = model.score_texts(text["validation"])
    model.thresholds = {lb: choose_threshold(y["validation"][lb], val_scores[lb]) for lb in LABELS}
    progress(f"chose C={best[0]}, thresholds {model.thresholds}")

    as_rows = {s: [Labeled(e.title, e.summary, e.labels, e.lang) for e in rows] for s, rows in splits.items()}
    metrics = {"validation": evaluate(model, as_rows["validation"]), "test": evaluate(model, as_rows["test"])}
    version = model_version(digest)
    manifest = {
        "model_revision": MODEL_REVISION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_sha256": digest,
        "data": statistics(examples),
        "C": best[0],
        "thresholds": model.thresholds,
        "metrics": metrics,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
    }
    model.meta = {"data_sha256": digest}
    model.save(models_dir, version, manifest)
    return version, manifest


def is_current(models_dir: Path, data_dir: Path = DATA_DIR) -> str | None:
    """The version that the current data and code would produce, if it is already trained."""
    version = model_version(data_hash(data_dir))
    try:
        NewsClassifier.load(models_dir, version)
    except ModelNotFoundError:
        return None
    except Exception:  # an unreadable artifact (other sklearn, truncated file) is retrained, not trusted
        return None
    return version
