"""The news classifier at scoring time: hashed word and character n-grams plus domain features, one calibrated
linear model per label, per-label thresholds, explanations, and a versioned on-disk artifact.

Scoring needs only numpy: the weights scikit-learn learned are exported into the artifact, so a process that
classifies does not pay scikit-learn's import time or memory.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from classifiers.features import Analysis, DomainFeatures
from classifiers.text import model_text
from classifiers.vectorize import N_FEATURES, WORD_FEATURES, Counts, HashedNgrams
from monitor.messages import LABELS, Contribution, LabelName, Place

ARTIFACT = "weights.npz"
DOMAIN = "domain.pickle"
MANIFEST = "manifest.json"
# Every file of an artifact besides the manifest, whose sha256 the manifest records.
ARTIFACT_FILES = (ARTIFACT, DOMAIN)
# Bumped when features or the model change in a way that makes old artifacts incompatible (5: the gazetteer
# pickles its in-word names and capitalized-only sets, and tokens of unspaced scripts changed).
MODEL_REVISION = 5

log = structlog.get_logger(__name__)


class ModelNotFoundError(FileNotFoundError):
    """No trained model at the configured place (run `newsmon train`)."""


class ModelIntegrityError(ModelNotFoundError):
    """A model's files do not match the hashes its manifest records, or it records none."""


@dataclass
class Prediction:
    scores: dict[str, float]
    labels: list[LabelName]
    places: list[Place]
    explanation: dict[str, list[Contribution]] = field(default_factory=dict)


@dataclass
class Features:
    """A batch as the model sees it: tf-idf weighted n-grams (CSR) and the dense domain block."""

    ngrams: Counts
    domain: np.ndarray
    analyses: list[Analysis]


class NewsClassifier:
    """Multi-label classifier for `cross_border_incident` and `election`."""

    def __init__(self, domain: DomainFeatures | None = None) -> None:
        self.ngrams = HashedNgrams()
        self.domain = domain or DomainFeatures()
        width = N_FEATURES + len(self.domain.names)
        self.idf = np.ones(N_FEATURES, dtype=np.float32)
        self.coef = np.zeros((len(LABELS), width), dtype=np.float32)
        self.intercept = np.zeros(len(LABELS), dtype=np.float64)
        # Platt scaling per label: p = 1 / (1 + exp(a * logit + b)).
        self.calibration = np.array([[-1.0, 0.0]] * len(LABELS), dtype=np.float64)
        self.thresholds: dict[str, float] = dict.fromkeys(LABELS, 0.5)
        self.version = ""
        self.meta: dict[str, Any] = {}

    # -- features --------------------------------------------------------------------------------------------
    def fit_idf(self, counts: Counts) -> None:
        """Smoothed inverse document frequency of every column over a training batch."""
        df = np.bincount(counts.indices, minlength=N_FEATURES)
        self.idf = (np.log((1 + counts.rows) / (1 + df)) + 1).astype(np.float32)

    def _weighted(self, counts: Counts) -> Counts:
        # Sublinear tf-idf, L2-normalised separately over the word and the character columns of each row.
        data = (1 + np.log(counts.data)) * self.idf[counts.indices]
        rows = np.repeat(np.arange(counts.rows), np.diff(counts.indptr))
        is_char = counts.indices >= WORD_FEATURES
        block = rows * 2 + is_char
        norms = np.sqrt(np.bincount(block, weights=data * data, minlength=counts.rows * 2))
        data = data / np.maximum(norms[block], 1e-12)
        return Counts(counts.indptr, counts.indices, data.astype(np.float32))

    def features(self, texts: list[str]) -> Features:
        counts = self.ngrams.transform(texts)
        domain, analyses = self.domain.transform(texts)
        return Features(self._weighted(counts), domain, analyses)

    def logits(self, f: Features) -> np.ndarray:
        """Each label's linear decision value per row, shape (labels, rows)."""
        n = f.ngrams.rows
        rows = np.repeat(np.arange(n), np.diff(f.ngrams.indptr))
        out = np.empty((len(LABELS), n), dtype=np.float64)
        for k in range(len(LABELS)):
            sparse_part = np.bincount(rows, weights=f.ngrams.data * self.coef[k, f.ngrams.indices], minlength=n)
            out[k] = sparse_part + f.domain @ self.coef[k, N_FEATURES:] + self.intercept[k]
        return out

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        a, b = self.calibration[:, :1], self.calibration[:, 1:]
        return 1.0 / (1.0 + np.exp(a * logits + b))

    def score_texts(self, texts: list[str]) -> dict[str, np.ndarray]:
        p = self.probabilities(self.logits(self.features(texts)))
        return {label: p[k] for k, label in enumerate(LABELS)}

    # -- inference -------------------------------------------------------------------------------------------
    def predict(self, items: list[tuple[str, str]], explain: int = 0) -> list[Prediction]:
        """Score (title, summary) pairs; with explain > 0, attach that many top contributions per label."""
        return self.predict_texts([model_text(t, s) for t, s in items], explain)

    def predict_texts(self, texts: list[str], explain: int = 0) -> list[Prediction]:
        """Score texts built by `model_text`; with explain > 0, attach that many top contributions per label."""
        f = self.features(texts)
        probs = np.round(self.probabilities(self.logits(f)), 4).T.tolist()
        thresholds = [self.thresholds[label] for label in LABELS]
        out = []
        for i, analysis in enumerate(f.analyses):
            sc = dict(zip(LABELS, probs[i], strict=True))
            labels = [label for label, p, t in zip(LABELS, probs[i], thresholds, strict=True) if p >= t]
            expl = {}
            if explain:
                lo, hi = f.ngrams.indptr[i], f.ngrams.indptr[i + 1]
                expl = self._explain(
                    texts[i], f.ngrams.indices[lo:hi], f.ngrams.data[lo:hi], f.domain[i], analysis, explain
                )
            out.append(Prediction(sc, labels, analysis.places, expl))
        return out

    def _explain(
        self, text: str, cols: np.ndarray, values: np.ndarray, domain: np.ndarray, analysis: Analysis, top: int
    ) -> dict[str, list[Contribution]]:
        is_char = cols >= WORD_FEATURES
        present = np.flatnonzero(domain)
        # Domain features are named columns after the hashed ones.
        named_cols = np.concatenate([cols[~is_char], N_FEATURES + present])
        named_vals = np.concatenate([values[~is_char], domain[present]])
        word_names: dict[int, str] | None = None
        out: dict[str, list[Contribution]] = {}
        for k, label in enumerate(LABELS):
            coef = self.coef[k]
            char_total = float((values[is_char] * coef[cols[is_char]]).sum())
            weights = named_vals * coef[named_cols]
            best = np.argsort(-weights, kind="stable")[:top]
            contrib: list[tuple[float, int]] = [(float(weights[j]), int(named_cols[j])) for j in best if weights[j] > 0]
            if char_total > 1e-9:
                contrib.append((char_total, -1))
            contrib.sort(key=lambda t: -t[0])
            chosen = contrib[:top]
            if word_names is None and any(0 <= col < WORD_FEATURES for _, col in chosen):
                word_names = self.ngrams.word_names(text)
            out[label] = [
                Contribution(feature=self._column_name(col, analysis, word_names or {}), weight=round(w, 3))
                for w, col in chosen
            ]
        return out

    def _column_name(self, col: int, analysis: Analysis, word_names: dict[int, str]) -> str:
        if col < 0:
            return "chars:spelling n-grams"
        if col < WORD_FEATURES:
            return word_names.get(col, f"term:#{col}")
        return self._domain_name(self.domain.names[col - N_FEATURES], analysis)

    @staticmethod
    def _domain_name(name: str, a: Analysis) -> str:
        if name == "geo:neighbours" and a.pairs:
            return "geo:neighbours " + ",".join(f"{x}-{y}" for x, y in a.pairs[:3])
        m = re.fullmatch(r"lex:(\w+)", name)
        if m and a.terms.get(m.group(1)):
            return f"{name} ({', '.join(a.terms[m.group(1)][:3])})"
        return name

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, models_dir: Path, version: str, manifest: dict[str, Any]) -> Path:
        """Write the artifact into a partial directory and rename it, so a reader never sees half a model."""
        target = models_dir / version
        tmp = models_dir / f".{version}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.version = version
        np.savez(tmp / ARTIFACT, idf=self.idf, coef=self.coef, intercept=self.intercept, calibration=self.calibration)
        with (tmp / DOMAIN).open("wb") as fh:
            pickle.dump(self.domain, fh, protocol=pickle.HIGHEST_PROTOCOL)
        files = {name: file_sha256(tmp / name) for name in ARTIFACT_FILES}
        body = {**manifest, "version": version, "thresholds": self.thresholds, "domain_features": self.domain.names,
                "files": files}  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        return target

    @staticmethod
    def load(models_dir: Path, version: str = "") -> NewsClassifier:
        """Load a version (default: the newest verified one) after checking its revision and file hashes."""
        version = version or latest_version(models_dir)
        path = models_dir / version
        if not (path / ARTIFACT).exists() or not (path / MANIFEST).exists():
            raise ModelNotFoundError(f"no model {version!r} under {models_dir} (run `newsmon train`)")
        started = time.monotonic()
        manifest = verified_manifest(path)
        with (path / DOMAIN).open("rb") as fh:
            domain = pickle.load(fh)  # its sha256 matched the one `save` recorded
        if not isinstance(domain, DomainFeatures) or domain.names != manifest.get("domain_features"):
            raise ModelNotFoundError(f"{path} holds domain features this code does not produce (run `newsmon train`)")
        model = NewsClassifier(domain)
        with np.load(path / ARTIFACT) as w:
            model.idf, model.coef, model.intercept, model.calibration = (
                w["idf"],
                w["coef"],
                w["intercept"],
                w["calibration"],
            )
        if model.coef.shape != (len(LABELS), N_FEATURES + len(domain.names)):
            raise ModelNotFoundError(f"{path} has weights of shape {model.coef.shape}; retrain it")
        model.thresholds = {label: float(manifest["thresholds"][label]) for label in LABELS}
        model.version = version
        model.meta = {"data_sha256": manifest.get("data_sha256"), "manifest_sha256": file_sha256(path / MANIFEST),
                      "load_seconds": round(time.monotonic() - started, 3)}  # fmt: skip
        return model


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verified_manifest(path: Path) -> dict[str, Any]:
    """Read a model's manifest and check its revision and every artifact file's sha256, before any file is read."""
    manifest: dict[str, Any] = json.loads((path / MANIFEST).read_text())
    if manifest.get("model_revision") != MODEL_REVISION:
        raise ModelNotFoundError(
            f"model {path.name!r} is revision {manifest.get('model_revision')}, this code reads revision "
            f"{MODEL_REVISION} (run `newsmon train`)"
        )
    recorded = manifest.get("files")
    if not isinstance(recorded, dict) or not set(ARTIFACT_FILES) <= set(recorded):
        raise ModelIntegrityError(f"model {path.name!r} records no file hashes in its manifest (run `newsmon train`)")
    for name in ARTIFACT_FILES:
        if file_sha256(path / name) != recorded[name]:
            raise ModelIntegrityError(
                f"{path / name} does not match the sha256 in {MANIFEST}: it changed after training and is not "
                "loaded (run `newsmon train` to retrain)"
            )
    return manifest


def latest_version(models_dir: Path) -> str:
    """The most recently written model that is complete, of this revision and whose files match their hashes.

    Models that fail the check are skipped and logged, so a planted directory cannot take over by being newest.
    """
    candidates = [p for p in models_dir.glob("*") if (p / ARTIFACT).exists() and (p / MANIFEST).exists()]
    for path in sorted(candidates, key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True):
        try:
            verified_manifest(path)
        except (ModelNotFoundError, OSError, ValueError) as exc:
            log.warning("classifier.model_skipped", version=path.name, reason=str(exc))
            continue
        log.info("classifier.model_chosen", version=path.name, manifest_sha256=file_sha256(path / MANIFEST))
        return path.name
    raise ModelNotFoundError(f"no complete, verified model of revision {MODEL_REVISION} under {models_dir} "
                             "(run `newsmon train`)")  # fmt: skip
