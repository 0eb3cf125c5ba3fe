"""What a replay was asked to do, and the one error class for input it cannot work with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ReplayInputError(ValueError):
    """Input a replay cannot run on (unknown model, invalid rules, empty range, missing topic): exit code 2."""


@dataclass(frozen=True)
class Filters:
    """Which items take part: empty tuples let every item through."""

    partitions: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[object]]:
        return {"partitions": list(self.partitions), "sources": list(self.sources), "feeds": list(self.feeds),
                "langs": list(self.langs)}  # fmt: skip


@dataclass(frozen=True)
class ReplayRequest:
    """One replay: a topic, a time range, the model and rules to try, and the optional labels to score against."""

    topic: str
    since: datetime
    until: datetime | None = None
    filters: Filters = Filters()
    model_version: str = ""
    rules_path: Path | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    labels_path: Path | None = None
    target_precision: float = 0.9
    examples: int = 10
    from_file: Path | None = None
    # Explicit (partition, start, end exclusive or None for the current end) ranges instead of the time range.
    offsets: tuple[tuple[int, int, int | None], ...] = ()
    # Write the replay's classified items and alerts to `replay.<run-id>.classified` / `.alerts`.
    output_topics: bool = False
    # Records judged together: large enough that handing a batch to the workers costs little per record.
    batch: int = 2000


def parse_when(text: str, now: datetime) -> datetime:
    """An instant from `7d`, `12h`, `30m` (that long before `now`) or an ISO 8601 timestamp (UTC if no zone)."""
    m = _RELATIVE.match(text)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ReplayInputError(f"{text!r} is neither a relative time (7d, 12h, 30m) nor an ISO 8601 timestamp") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def parse_thresholds(pairs: tuple[str, ...], known: tuple[str, ...]) -> dict[str, float]:
    """`label=0.7` pairs as a mapping, each label known and each value a probability."""
    out: dict[str, float] = {}
    for pair in pairs:
        label, _, value = pair.partition("=")
        if label not in known:
            raise ReplayInputError(f"--threshold {pair!r}: unknown label {label!r} (known: {', '.join(known)})")
        try:
            out[label] = float(value)
        except ValueError as exc:
            raise ReplayInputError(f"--threshold {pair!r}: give LABEL=NUMBER, e.g. election=0.7") from exc
        if not 0.0 <= out[label] <= 1.0:
            raise ReplayInputError(f"--threshold {pair!r}: the threshold must lie between 0 and 1")
    return out
