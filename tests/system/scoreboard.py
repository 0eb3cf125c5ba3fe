"""The fault-tolerance table: one row per scenario, counted at the receiver, printed at the end of the run."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.support.receivers import Receiver
from tests.system.farm import Story
from tests.system.pipeline import delivered_titles

COLUMNS = ("scenario", "items in", "alerts expected", "delivered", "lost", "duplicates", "recovery s")


@dataclass(frozen=True)
class Row:
    scenario: str
    items_in: int
    expected: int
    delivered: int
    lost: int
    duplicates: int  # deliveries beyond the first of the scenario's alerts
    reissued: int  # stories delivered under more than one event id (a receiver could not dedupe them)
    recovery_s: float | None

    def cells(self) -> tuple[str, ...]:
        rec = "-" if self.recovery_s is None else f"{self.recovery_s:.1f}"
        nums = (self.items_in, self.expected, self.delivered, self.lost, self.duplicates)
        return (self.scenario, *(str(n) for n in nums), rec)


def count(scenario: str, stories: list[Story], receiver: Receiver, recovery_s: float | None) -> Row:
    """What the receiver got of the alerting stories among `stories`."""
    want = {s.title for s in stories if s.alerts}
    got = {t: eids for t, eids in delivered_titles(receiver).items() if t in want}
    extra = sum(receiver.accepted[e] - 1 for eids in got.values() for e in eids)
    reissued = sum(1 for eids in got.values() if len(eids) > 1)
    return Row(scenario, len(stories), len(want), len(got), len(want - set(got)), extra, reissued, recovery_s)


@dataclass
class Scoreboard:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def render(self) -> list[str]:
        table = [COLUMNS, *(r.cells() for r in self.rows)]
        widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
        return ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
                for line in table]  # fmt: skip
