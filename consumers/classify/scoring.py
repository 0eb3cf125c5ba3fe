"""Scoring raw messages off the event loop: in a thread with a model in hand, or across worker processes.

Scoring is CPU-bound Python, so one process is one core. Workers take raw message bytes and return encoded
`news.classified` messages, so decoding and encoding are spread over the cores as well.
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from classifiers.model import MANIFEST, NewsClassifier, file_sha256, latest_version
from classifiers.text import model_text
from monitor.messages import ClassifiedItem, DecodeError, RawItem, decode, encode, encode_key
from monitor.workers import spawn_pool

log = structlog.get_logger(__name__)

EXPLAIN_TOP = 5


class ScoringError(RuntimeError):
    """The scoring workers could not start or died; the stage stops rather than commit unscored work."""


@dataclass
class Scored:
    """One batch's result, in input order: encoded classified messages and the indexes of bad input."""

    messages: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # (index, key, value)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (index, reason)

    def extend(self, other: Scored, offset: int) -> None:
        self.messages.extend((i + offset, k, v) for i, k, v in other.messages)
        self.bad.extend((i + offset, r) for i, r in other.bad)


def score_values(model: NewsClassifier, values: list[bytes | None]) -> Scored:
    """Decode, classify and encode one batch of `news.raw` values."""
    out = Scored()
    items: list[tuple[int, RawItem]] = []
    for i, value in enumerate(values):
        try:
            items.append((i, decode(RawItem, value)))
        except DecodeError as exc:
            out.bad.append((i, str(exc)))
    for (i, _), c in zip(items, classify_items(model, [it for _, it in items]), strict=True):
        out.messages.append((i, encode_key(c), encode(c)))
    return out


def classify_items(model: NewsClassifier, items: list[RawItem], explain: int = EXPLAIN_TOP) -> list[ClassifiedItem]:
    """Score raw items as the classify stage does: the model's scores, labels, places and explanations."""
    preds = model.predict_texts([model_text(it.title, it.summary, it.title_derived) for it in items], explain)
    return [
        ClassifiedItem(
            item=it, scores=p.scores, labels=p.labels, model=model.version, places=p.places, explanation=p.explanation
        )
        for it, p in zip(items, preds, strict=True)
    ]


# The model of this worker process, loaded once by the pool initializer, or why it could not be.
_worker_model: NewsClassifier | None = None
_worker_error = ""


def _init_scoring_worker(model_dir: str, version: str) -> None:
    global _worker_model, _worker_error
    try:
        _worker_model = NewsClassifier.load(Path(model_dir), version)
    except Exception as exc:  # reported by the first task, which the parent awaits, instead of a broken pool
        _worker_error = f"{type(exc).__name__}: {exc}"


def _score_in_worker(values: list[bytes | None]) -> Scored:
    if _worker_model is None:
        raise ScoringError(f"scoring worker has no model: {_worker_error}")
    return score_values(_worker_model, values)


def _loaded_version() -> str:
    if _worker_model is None:
        raise ScoringError(_worker_error)
    return _worker_model.version


class Scorer:
    """Scores batches with `workers` processes (each loads the model), or in a thread with the given model."""

    def __init__(self, model_dir: Path, version: str, workers: int, model: NewsClassifier | None = None) -> None:
        self.model = model
        self.workers = 1 if model is not None else workers
        self.version = model.version if model is not None else (version or latest_version(model_dir))
        self._model_dir = model_dir
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        started = time.monotonic()
        if self.model is None and self.workers <= 1:
            self.model = await asyncio.to_thread(NewsClassifier.load, self._model_dir, self.version)
        elif self.model is None:
            self._pool = spawn_pool(self.workers, _init_scoring_worker, str(self._model_dir), self.version)
            # Every worker loads the model before the first batch, so a broken artifact stops the stage at once.
            loop = asyncio.get_running_loop()
            try:
                loaded = await asyncio.gather(
                    *[loop.run_in_executor(self._pool, _loaded_version) for _ in range(self.workers * 2)]
                )
            except (BrokenProcessPool, ScoringError) as exc:
                self.close()
                raise ScoringError(f"scoring workers could not load model {self.version!r}: {exc}") from exc
            if set(loaded) != {self.version}:
                self.close()
                raise ScoringError(f"scoring workers loaded {sorted(set(loaded))}, expected {self.version!r}")
        log.info("classifier.scorer_ready", model=self.version, workers=self.workers,
                 manifest_sha256=self._manifest_sha256(),
                 seconds=round(time.monotonic() - started, 3))  # fmt: skip

    def _manifest_sha256(self) -> str:
        # Names exactly which artifact this stage scores with; pool workers verified the same files.
        if self.model is not None:
            return str(self.model.meta.get("manifest_sha256", ""))
        return file_sha256(self._model_dir / self.version / MANIFEST)

    async def score(self, values: list[bytes | None]) -> Scored:
        if self._pool is None:
            assert self.model is not None, "start() first"
            return await asyncio.to_thread(score_values, self.model, values)
        size = math.ceil(len(values) / self.workers)
        chunks = [values[i : i + size] for i in range(0, len(values), size)]
        loop = asyncio.get_running_loop()
        try:
            parts = await asyncio.gather(*[loop.run_in_executor(self._pool, _score_in_worker, c) for c in chunks])
        except BrokenProcessPool as exc:
            raise ScoringError(f"a scoring worker died: {exc}") from exc
        out = Scored()
        for n, part in enumerate(parts):
            out.extend(part, n * size)
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
