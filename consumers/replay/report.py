"""The replay report as one JSON-ready mapping; run details (clock, speed) sit apart under `run`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from classifiers.model import NewsClassifier
from consumers.replay.window import Span

if TYPE_CHECKING:
    from consumers.replay.run import Replay


def build_report(replay: Replay, spans: list[Span], read: int, partial: bool, model: NewsClassifier | None,
                 run: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Everything the replay found; the same replay of the same records gives the same mapping outside `run`."""
    req = replay.req
    return {
        "partial": partial,
        "request": {
            "topic": req.topic,
            "mode": "classify+rules" if model is not None else "rules",
            "model": model.version if model is not None else None,
            "rules": str(req.rules_path) if req.rules_path else None,
            "thresholds": dict(sorted(req.thresholds.items())),
            "filters": req.filters.as_dict(),
            "offsets": [{"partition": p, "start": start, "end": end} for p, start, end in req.offsets],
        },
        "range": {
            "partitions": [{"partition": s.partition, "start": s.start, "end": s.end} for s in spans],
            "records": sum(s.size for s in spans),
        },
        "records_read": read,
        "bad_input": replay.bad,
        "filtered_out": replay.filtered,
        **replay.tally.as_dict(),
        "stories": replay.stories.as_dict() if replay.stories is not None else None,
        "diff": replay.diff.as_dict() if replay.diff is not None else None,
        "metrics": replay.scorecard.as_dict() if replay.scorecard is not None else None,
        "run": run,
    }
