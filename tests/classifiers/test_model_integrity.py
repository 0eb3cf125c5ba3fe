"""A model's files are checked against the hashes in its manifest before any is read, and the image keeps them
read-only."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from classifiers.model import DOMAIN, MANIFEST, ModelNotFoundError, NewsClassifier, latest_version

REPO = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this creates a marker directory: proof that a tampered pickle would run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def _copy_model(models_dir: Path, model: NewsClassifier, target: Path, name: str) -> Path:
    dest = target / name
    shutil.copytree(models_dir / model.version, dest)
    return dest


def test_a_replaced_pickle_is_refused_before_it_is_unpickled(
    models_dir: Path, model: NewsClassifier, tmp_path: Path
) -> None:
    path = _copy_model(models_dir, model, tmp_path / "models", model.version)
    marker = tmp_path / "unpickled"
    (path / DOMAIN).write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelNotFoundError, match=rf"{DOMAIN}.*newsmon train") as err:
        NewsClassifier.load(tmp_path / "models", model.version)
    assert "sha256" in str(err.value)
    assert not marker.exists()


def test_a_manifest_without_file_hashes_is_refused_with_a_retrain_message(
    models_dir: Path, model: NewsClassifier, tmp_path: Path
) -> None:
    path = _copy_model(models_dir, model, tmp_path / "models", model.version)
    manifest = json.loads((path / MANIFEST).read_text())
    manifest.pop("files", None)
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelNotFoundError, match=r"no file hashes.*newsmon train"):
        NewsClassifier.load(tmp_path / "models", model.version)


def test_the_newest_model_is_chosen_only_if_it_verifies_and_the_choice_is_logged(
    models_dir: Path, model: NewsClassifier, tmp_path: Path
) -> None:
    good = _copy_model(models_dir, model, tmp_path / "models", "good")
    bad = _copy_model(models_dir, model, tmp_path / "models", "planted")
    with (bad / DOMAIN).open("ab") as fh:
        fh.write(b"\0")
    newer = (good / MANIFEST).stat().st_mtime + 60
    os.utime(bad / MANIFEST, (newer, newer))
    with capture_logs() as logs:
        assert latest_version(tmp_path / "models") == "good"
        loaded = NewsClassifier.load(tmp_path / "models")
    assert loaded.version == "good"
    skipped = [e for e in logs if e["event"] == "classifier.model_skipped"]
    assert skipped and skipped[0]["version"] == "planted"
    chosen = [e for e in logs if e["event"] == "classifier.model_chosen"]
    assert chosen and chosen[-1]["version"] == "good"
    assert chosen[-1]["manifest_sha256"] == loaded.meta["manifest_sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.meta["manifest_sha256"])


def _docker_steps() -> tuple[list[str], list[str]]:
    """The Dockerfile's USER values and its RUN commands split into single shell steps."""
    lines = [ln.strip() for ln in (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()]
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    runs = [ln.removeprefix("RUN ") for ln in lines if ln.startswith("RUN ")]
    steps = [s.strip() for run in runs for s in re.split(r"&&|;", run)]
    return users, steps


def test_the_image_keeps_models_read_only_to_the_runtime_user() -> None:
    users, steps = _docker_steps()
    assert users and users[-1] not in ("root", "0")
    runtime = users[-1]
    # Owning /app or /app/models would let the runtime user replace or rename the model directory.
    for step in steps:
        if step.startswith("chown") and any(t in ("/app", "/app/models", ".", "models") for t in step.split()):
            assert not step.split()[-2].startswith(runtime), step
    assert "chmod -R go-w /app" in steps
    assert steps.index("chmod -R go-w /app") > next(i for i, s in enumerate(steps) if "newsmon train" in s)
