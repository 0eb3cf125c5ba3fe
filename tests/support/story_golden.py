"""The story each item of the labeled set and of a synthetic stream is assigned to, and why: a golden for clustering.

The fixture pins the decisions the clustering core makes, so a change meant to be a pure speed-up cannot move an
item to another story. After a change meant to alter decisions (new rules or parameters), report B-cubed scores
before and after on the labeled set and regenerate it:

    .venv/bin/python -m tests.support.story_golden
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from bench.stories import stream
from consumers.stories.cluster import Clusterer
from consumers.stories.evaluate import LABELED, gold_facts, read_labeled
from consumers.stories.facts import Facts, from_classified

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "story_golden.json"
# Enough synthetic items for stories to close as the window slides and for busy countries to offer many candidates.
STREAM_ITEMS = 6000
STREAM_HOURS = 150.0
REGENERATE = "regenerate with `.venv/bin/python -m tests.support.story_golden` if decisions were meant to change"


def decisions(facts: list[Facts]) -> list[list[str]]:
    """For each item in order of publication: its id, its story's id and the reason it went there."""
    c = Clusterer()
    out = []
    for f in sorted(facts, key=lambda f: (f.published, f.item_id)):
        a = c.assign(f)
        out.append([f.item_id, a.story_id, a.reason])
    return out


def labeled_decisions() -> list[list[str]]:
    return decisions(gold_facts(read_labeled(LABELED)))


def stream_decisions() -> list[list[str]]:
    return decisions([from_classified(m) for m in stream(STREAM_ITEMS, hours=STREAM_HOURS)])


def digest(rows: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def build() -> dict[str, Any]:
    synthetic = stream_decisions()
    return {"labeled": labeled_decisions(), "stream_items": len(synthetic), "stream_sha256": digest(synthetic),
            "stream_stories": len({r[1] for r in synthetic})}  # fmt: skip


if __name__ == "__main__":
    body = build()
    rows = ",\n".join(json.dumps(r) for r in body.pop("labeled"))
    head = json.dumps(body)[1:-1]
    FIXTURE.write_text(f'{{{head},\n"labeled": [\n{rows}\n]}}\n', encoding="utf-8")
    print(f"wrote {FIXTURE}")
