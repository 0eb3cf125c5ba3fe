"""Folders depend one way: the kernel never imports a stage, and only the application shell wires stages together."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The shell (and `python -m monitor`, which only calls it) is where stages are put together.
SHELL = (REPO / "monitor" / "shell", REPO / "monitor" / "__main__.py")
STAGES = ("consumers", "classifiers")


def _modules(*roots: str) -> list[Path]:
    files = [p for root in roots for p in sorted((REPO / root).rglob("*.py"))]
    return [p for p in files if "data" not in p.relative_to(REPO).parts]


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in the file, also those inside functions."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module


def _in_shell(path: Path) -> bool:
    return any(path == s or s in path.parents for s in SHELL)


def _reaching(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in paths
        for line, module in _imported(path)
        if any(module == name or module.startswith(f"{name}.") for name in forbidden)
    ]


def test_the_kernel_and_ingest_never_import_a_later_stage() -> None:
    kernel = [p for p in _modules("monitor") if not _in_shell(p)]
    assert len(kernel) > 50
    assert _reaching(kernel, STAGES) == []


def test_only_the_shell_imports_the_shell() -> None:
    outside = [p for p in _modules("monitor", *STAGES) if not _in_shell(p)]
    assert _reaching(outside, ("monitor.shell",)) == []


@pytest.mark.parametrize("stage", ["classify", "alert", "deliver", "stories"])
def test_every_stage_folder_has_its_entry_point(stage: str) -> None:
    assert (REPO / "consumers" / stage / "stage.py").is_file()


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    # A guard that misses a deferred import would pass while the kernel imports upward.
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from consumers.alert.rules import load_rules\n", encoding="utf-8")
    assert list(_imported(sample)) == [(2, "consumers.alert.rules")]
