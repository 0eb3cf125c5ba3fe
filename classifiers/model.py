"""The news classifier: hashed word and character n-grams plus domain features, one calibrated linear model per
label, per-label thresholds, explanations, and a versioned on-disk artifact."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils import murmurhash3_32

from classifiers.features import Analysis, DomainFeatures, item_text
from monitor.messages import LABELS, Contribution, LabelName, Place

ARTIFACT = "model.joblib"
MANIFEST = "manifest.json"
# Bumped when features or the model change in a way that makes old artifacts incompatible.
MODEL_REVISION = 1
_WORD_FEATURES = 2**18
_CHAR_FEATURES = 2**19
_TOKEN = r"(?u)\b\w[\w'’-]*\b"


class ModelNotFoundError(FileNotFoundError):
    """No trained model at the configured place (run `newsmon train`)."""


@dataclass
class Prediction:
    scores: dict[str, float]
    labels: list[LabelName]
    places: list[Place]
    explanation: dict[str, list[Contribution]] = field(default_factory=dict)


def _word_vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), token_pattern=_TOKEN, n_features=_WORD_FEATURES,
        alternate_sign=False, norm=None, lowercase=True, dtype=np.float32,
    )  # fmt: skip


def _char_vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), n_features=_CHAR_FEATURES, alternate_sign=False, norm=None,
        lowercase=True, dtype=np.float32,
    )  # fmt: skip


class NewsClassifier:
    """Multi-label classifier for `cross_border_incident` and `election`."""

    def __init__(self, C: float = 4.0, domain_weight: float = 1.0) -> None:
        self.C = C
        self.domain_weight = domain_weight
        self.word = _word_vectorizer()
        self.char = _char_vectorizer()
        self.word_tfidf = TfidfTransformer(sublinear_tf=True)
        self.char_tfidf = TfidfTransformer(sublinear_tf=True)
        self.domain = DomainFeatures()
        self.models: dict[str, LogisticRegression] = {}
        self.calibrators: dict[str, CalibratedClassifierCV] = {}
        self.thresholds: dict[str, float] = dict.fromkeys(LABELS, 0.5)
        self.version = ""
        self.meta: dict[str, Any] = {}

    @property
    def _analyzer(self) -> Any:
        analyzer = self.__dict__.get("_word_analyzer")
        if analyzer is None:
            analyzer = self.word.build_analyzer()
            self.__dict__["_word_analyzer"] = analyzer
        return analyzer

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_word_analyzer", None)
        return state

    # -- features --------------------------------------------------------------------------------------------
    def _matrix(self, texts: list[str], fit: bool = False) -> tuple[sparse.csr_matrix, list[Analysis]]:
        w = self.word.transform(texts)
        c = self.char.transform(texts)
        if fit:
            self.word_tfidf.fit(w)
            self.char_tfidf.fit(c)
        d, analyses = self.domain.transform(texts)
        x = sparse.hstack(
            [self.word_tfidf.transform(w), self.char_tfidf.transform(c), d * self.domain_weight], format="csr"
        )
        return x, analyses

    # -- training --------------------------------------------------------------------------------------------
    def fit(self, texts: list[str], y: dict[str, np.ndarray]) -> NewsClassifier:
        x, _ = self._matrix(texts, fit=True)
        for label in LABELS:
            lr = LogisticRegression(C=self.C, class_weight="balanced", solver="liblinear", max_iter=2000)
            lr.fit(x, y[label])
            self.models[label] = lr
        return self

    def calibrate(self, texts: list[str], y: dict[str, np.ndarray]) -> None:
        """Platt-scale each label's scores on held-out data so that scores read as probabilities."""
        x, _ = self._matrix(texts)
        for label in LABELS:
            cal = CalibratedClassifierCV(FrozenEstimator(self.models[label]), method="sigmoid")
            cal.fit(x, y[label])
            self.calibrators[label] = cal

    # -- inference -------------------------------------------------------------------------------------------
    def _scores(self, x: sparse.csr_matrix) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for label in LABELS:
            model = self.calibrators.get(label) or self.models[label]
            out[label] = model.predict_proba(x)[:, 1]
        return out

    def score_texts(self, texts: list[str]) -> dict[str, np.ndarray]:
        x, _ = self._matrix(texts)
        return self._scores(x)

    def predict(self, items: list[tuple[str, str]], explain: int = 0) -> list[Prediction]:
        """Score (title, summary) pairs; with explain > 0, attach that many top contributions per label."""
        texts = [item_text(t, s) for t, s in items]
        x, analyses = self._matrix(texts)
        scores = self._scores(x)
        out = []
        for i, analysis in enumerate(analyses):
            sc: dict[str, float] = {label: round(float(scores[label][i]), 4) for label in LABELS}
            labels = [label for label in LABELS if sc[label] >= self.thresholds[label]]
            expl = {}
            if explain:
                lo, hi = x.indptr[i], x.indptr[i + 1]
                expl = self._explain(texts[i], x.indices[lo:hi], x.data[lo:hi], analysis, explain)
            out.append(Prediction(sc, labels, analysis.places, expl))
        return out

    def _explain(
        self, text: str, cols: np.ndarray, values: np.ndarray, analysis: Analysis, top: int
    ) -> dict[str, list[Contribution]]:
        offset = _WORD_FEATURES + _CHAR_FEATURES
        is_char = (cols >= _WORD_FEATURES) & (cols < offset)
        named_cols, named_vals = cols[~is_char], values[~is_char]
        word_names: dict[int, str] | None = None
        out: dict[str, list[Contribution]] = {}
        for label in LABELS:
            coef = self.models[label].coef_[0]
            char_total = float((values[is_char] * coef[cols[is_char]]).sum())
            weights = named_vals * coef[named_cols]
            best = np.argsort(-weights, kind="stable")[:top]
            contrib: list[tuple[float, int]] = [(float(weights[k]), int(named_cols[k])) for k in best if weights[k] > 0]
            if char_total > 1e-9:
                contrib.append((char_total, -1))
            contrib.sort(key=lambda t: -t[0])
            chosen = contrib[:top]
            if word_names is None and any(0 <= col < _WORD_FEATURES for _, col in chosen):
                word_names = self._word_names(text)
            out[label] = [
                Contribution(feature=self._column_name(col, analysis, word_names or {}), weight=round(w, 3))
                for w, col in chosen
            ]
        return out

    def _word_names(self, text: str) -> dict[int, str]:
        # Hashed features have no names; the text's own n-grams are hashed again to name the columns it uses
        # (the same hash HashingVectorizer uses: murmurhash3, seed 0, sign dropped).
        names: dict[int, str] = {}
        for gram in self._analyzer(text):
            names.setdefault(abs(murmurhash3_32(gram, seed=0)) % _WORD_FEATURES, f"term:{gram}")
        return names

    def _column_name(self, col: int, analysis: Analysis, word_names: dict[int, str]) -> str:
        if col < 0:
            return "chars:spelling n-grams"
        if col < _WORD_FEATURES:
            return word_names.get(col, f"term:#{col}")
        return self._domain_name(self.domain.names[col - _WORD_FEATURES - _CHAR_FEATURES], analysis)

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
        target = models_dir / version
        tmp = models_dir / f".{version}.partial"
        tmp.mkdir(parents=True, exist_ok=True)
        self.version = version
        joblib.dump(self, tmp / ARTIFACT, compress=3)
        (tmp / MANIFEST).write_text(json.dumps({**manifest, "version": version}, indent=2, sort_keys=True))
        if target.exists():
            import shutil

            shutil.rmtree(target)
        tmp.rename(target)
        return target

    @staticmethod
    def load(models_dir: Path, version: str = "") -> NewsClassifier:
        """Load a version (default: the newest complete one) and check it is a compatible artifact."""
        version = version or latest_version(models_dir)
        path = models_dir / version / ARTIFACT
        if not path.exists():
            raise ModelNotFoundError(f"no model {version!r} under {models_dir} (run `newsmon train`)")
        started = time.monotonic()
        model = joblib.load(path)
        if not isinstance(model, NewsClassifier):
            raise ModelNotFoundError(f"{path} does not hold a newsmon classifier")
        model.meta["load_seconds"] = round(time.monotonic() - started, 3)
        return model


def latest_version(models_dir: Path) -> str:
    """The most recently written complete model version."""
    candidates = [p for p in models_dir.glob("*") if (p / ARTIFACT).exists() and (p / MANIFEST).exists()]
    if not candidates:
        raise ModelNotFoundError(f"no trained model under {models_dir} (run `newsmon train`)")
    return max(candidates, key=lambda p: (p / MANIFEST).stat().st_mtime).name
