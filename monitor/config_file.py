"""Configuration files read as YAML and validated by pydantic, every mistake reported as `file:line: where: reason`.

The settings, the feed list and the rules are all loaded here, so their errors read alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[Any, ...]
Problem = tuple[int, str]  # (line, "where: reason"); line 0 when the value is not in the file


class ConfigError(Exception):
    """A setting or configuration file is invalid; the process must stop with exit code 2."""


@dataclass(frozen=True)
class Document:
    """One YAML file: its plain data and its node tree, which knows the line of every key."""

    source: str
    data: Any
    root: yaml.Node | None = None

    def line(self, loc: Loc) -> int:
        """The line of the deepest key on `loc` present in the file (0 when not even the first is)."""
        node, line = self.root, 0
        if not loc and node is not None:
            return node.start_mark.line + 1
        for part in loc:
            node, found = _child(node, part)
            if found:
                line = found
        return line


def _child(node: yaml.Node | None, part: Any) -> tuple[yaml.Node | None, int]:
    """The node under `part` and the line naming it; (None, 0) when there is none."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                return v, k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None, 0


def read_text(path: Path, what: str, hint: str = "") -> str:
    """The file's text; ConfigError when it is missing or unreadable, naming `what` it is."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist{hint}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc


def parse(text: str, source: str, what: str) -> Document:
    """Parse YAML keeping line numbers; a syntax error is a ConfigError with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"invalid {what}:\n  {source}:{line}: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid {what}:\n  {source}: {exc}") from exc
    return Document(source, {} if data is None else data, root)


def where(loc: Loc) -> str:
    """A path as an operator writes it: `rules[0].labels`."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "<top>"


def message(err: dict[str, Any]) -> str:
    """pydantic's reason, worded for a file: unknown keys are named and the "Value error" prefix dropped."""
    if err["type"] == "extra_forbidden":
        return f"unknown field {err['loc'][-1]!r}"
    return str(err["msg"]).removeprefix("Value error, ")


def duplicate_keys(node: yaml.Node | None, path: Loc = ()) -> list[Problem]:
    """Keys given twice in one mapping: YAML silently keeps the last, which would hide a rule or a setting."""
    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            if key in seen:
                found.append((k.start_mark.line + 1, f"{where((*path, key))}: key given twice"))
            seen.add(key)
            found.extend(duplicate_keys(v, (*path, key)))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found.extend(duplicate_keys(v, (*path, i)))
    return found


@dataclass(frozen=True)
class Wording:
    """How one kind of file turns a validation error's location and reason into words."""

    tidy: Callable[[Loc], Loc] = lambda loc: loc  # drop levels pydantic adds but the file does not have
    name: Callable[[Loc], str] = where
    explain: Callable[[dict[str, Any]], str] = message


def validate(
    doc: Document,
    model: type[M],
    what: str,
    *,
    build: Callable[[dict[str, Any]], M] | None = None,
    wording: Wording = Wording(),
    check: Callable[[M], Iterable[tuple[Loc, str]]] = lambda _: (),
) -> M:
    """The document as `model` (made by `build`, default model_validate), then `check`'s cross-references.

    Every problem found is reported at once, each as `file:line: where: reason`.
    """
    problems = duplicate_keys(doc.root)
    if not isinstance(doc.data, dict):
        problems.append((1, f"the top level must be a mapping ({', '.join(model.model_fields)})"))
    if problems:
        raise _error(doc, what, problems)
    try:
        value = (build or model.model_validate)(doc.data)
    except ValidationError as exc:
        raise _error(doc, what, [_problem(doc, dict(e), wording) for e in exc.errors()]) from exc
    found = [(doc.line(loc), f"{wording.name(loc)}: {msg}") for loc, msg in check(value)]
    if found:
        raise _error(doc, what, found)
    return value


def _problem(doc: Document, err: dict[str, Any], wording: Wording) -> Problem:
    loc = wording.tidy(tuple(err["loc"]))
    return doc.line(loc), f"{wording.name(loc)}: {wording.explain(err)}"


def _error(doc: Document, what: str, problems: list[Problem]) -> ConfigError:
    lines = (f"  {doc.source}:{line}: {msg}" if line else f"  {doc.source}: {msg}" for line, msg in sorted(problems))
    return ConfigError(f"invalid {what}:\n" + "\n".join(lines))
