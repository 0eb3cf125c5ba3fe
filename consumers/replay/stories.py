"""Stories in a replay (with `stories.enabled`): items clustered in record order as the story stage does, and
alerts counted as the alert stage raises them on stories, with record times as the clock: a first alert per story
and rule once corroborated, then at most one update per interval when new outlets report it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consumers.alert.on_stories import story_event_id
from consumers.alert.rules import RuleSet
from consumers.replay.judge import Judged
from consumers.stories.cluster import Clusterer
from consumers.stories.params import params_from
from monitor.settings import Settings

# Outlets-per-story buckets of the report.
_BUCKETS = ((1, "1"), (2, "2"), (4, "3-4"), (9, "5-9"), (19, "10-19"))


def _bucket(n: int) -> str:
    return next((name for top, name in _BUCKETS if n <= top), "20+")


@dataclass
class _Sent:
    """A story's alert for one rule: when it and its last update went out, and the outlets announced."""

    first_at: float
    last_at: float
    announced: set[str]


@dataclass
class StoryTally:
    alerts: int = 0
    updates: int = 0
    held: int = 0  # first matches held back by `min_outlets`
    outlets: dict[str, dict[str, str]] = field(default_factory=dict)  # story -> domain -> tier


class StoryReplay:
    """Assigns each replayed item its story and counts the story alerts and updates it would raise."""

    def __init__(self, settings: Settings, rules: RuleSet) -> None:
        self._clusterer = Clusterer(params_from(settings.stories))
        self._interval = settings.alerts.update_interval_min * 60.0
        self._window = settings.alerts.suppress_window_h * 3600.0
        self._rules = {r.id: r for r in rules.rules if r.spec.enabled}
        self._sent: dict[str, _Sent] = {}
        self._by_story: dict[str, list[str]] = {}
        self._waiting: set[tuple[str, str]] = set()  # (story id, event id) with an update due
        self.tally = StoryTally()

    def see(self, at: float, j: Judged) -> list[tuple[str, str]]:
        """The (rule id, event id) of the first alerts this item raises; updates are counted in the tally."""
        self._flush(at)
        if j.facts is None:
            return []
        sid = self._clusterer.assign(j.facts).story_id
        outlets = self.tally.outlets.setdefault(sid, {})
        if j.facts.domain:
            outlets.setdefault(j.facts.domain, j.tier)
        for eid in self._by_story.get(sid, []):
            self._follow(sid, eid, outlets, at)
        return [(rule_id, eid) for rule_id in j.rules if (eid := self._first(rule_id, sid, j.tier, outlets, at))]

    def _first(self, rule_id: str, sid: str, tier: str, outlets: dict[str, str], at: float) -> str:
        """The event id of the story's first alert for the rule, or "" (alerted already, or held)."""
        eid = story_event_id(rule_id, sid)
        known = self._sent.get(eid)
        if known is not None and at - known.first_at < self._window:
            return ""
        spec = self._rules[rule_id].spec
        if tier not in spec.trusted_tiers and len(outlets) < spec.min_outlets:
            self.tally.held += 1
            return ""
        self._sent[eid] = _Sent(at, at, set(outlets))
        self._by_story.setdefault(sid, []).append(eid)
        self.tally.alerts += 1
        return eid

    def _follow(self, sid: str, eid: str, outlets: dict[str, str], at: float) -> None:
        sent = self._sent[eid]
        if not set(outlets) - sent.announced:
            return
        if at - sent.last_at >= self._interval:
            self._update(sid, eid, at)
        else:
            self._waiting.add((sid, eid))

    def _update(self, sid: str, eid: str, at: float) -> None:
        sent = self._sent[eid]
        sent.announced |= set(self.tally.outlets[sid])
        sent.last_at = at
        self._waiting.discard((sid, eid))
        self.tally.updates += 1

    def _flush(self, at: float | None) -> None:
        """Send the waiting updates whose interval has passed by `at` (all of them when the replay ends)."""
        for sid, eid in list(self._waiting):
            last = self._sent[eid].last_at
            if at is None or at - last >= self._interval:
                self._update(sid, eid, at if at is not None else last + self._interval)

    def as_dict(self) -> dict[str, Any]:
        """The report's `stories` section: stories, their outlets, first alerts and updates."""
        self._flush(None)
        t = self.tally
        per = Counter(_bucket(len(v)) for v in t.outlets.values())
        order = [name for _, name in _BUCKETS] + ["20+"]
        return {
            "stories": len(t.outlets),
            "outlets_per_story": {name: per[name] for name in order if per[name]},
            "single_outlet": per["1"],
            "alerts": t.alerts,
            "updates": t.updates,
            "held_for_outlets": t.held,
        }
