"""Alerting on stories: a story's first matching report alerts once per rule, later outlets update that alert at
most once per interval, and a rule may wait for corroboration (`min_outlets`) unless a trusted tier reports it.

Everything a story's next message depends on lives in its `AlertState` (outlets announced, last message time,
the report waiting for the next update), written to the compacted alert-state topic before the input offsets are
committed: a restart neither alerts a story again nor loses a waiting update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from aiokafka.partitioner import murmur2

from consumers.alert.outlets import StoryBook, StoryView
from consumers.alert.rules import Rule, RuleSet
from consumers.alert.suppression import SuppressionStore
from monitor.messages import Alert, AlertState, AlertStory, ClassifiedItem

log = structlog.get_logger(__name__)


def story_event_id(rule_id: str, story_id: str) -> str:
    """The stable id of a story's first alert for a rule."""
    return hashlib.sha256(f"{rule_id}\nstory {story_id}".encode()).hexdigest()[:32]


def update_event_id(first_event_id: str, n: int) -> str:
    """The stable id of a story's n-th update: the same after a restart, so a sink never gets it twice."""
    return hashlib.sha256(f"{first_event_id}\nupdate {n}".encode()).hexdigest()[:32]


def partition_of(story_id: str, partitions: int) -> int:
    """The partition of the storied topic holding a story's items: Kafka's default partitioner over the story id."""
    return int(murmur2(story_id.encode()) & 0x7FFFFFFF) % partitions


def corroboration(rule: Rule, c: ClassifiedItem, view: StoryView) -> list[str] | None:
    """Why the story may alert now (reasons to add), or None while it waits for more outlets."""
    s = rule.spec
    if c.item.tier in s.trusted_tiers:
        return [f"trusted source ({c.item.tier})"] if s.min_outlets > 1 else []
    if view.count < s.min_outlets:
        return None
    return [f"reported by {view.count} outlets (at least {s.min_outlets})"] if s.min_outlets > 1 else []


def facts(view: StoryView, c: ClassifiedItem, first: str, new: list[str], update: int) -> AlertStory:
    cap = AlertStory.MAX_SOURCES
    return AlertStory(
        story_id=c.story_id, first_event_id=first, outlets=max(1, view.count), members=max(1, view.members),
        sources=view.names(list(view.outlets)[:cap]), new_sources=view.names(new[:cap]), update=update,
        unverified=view.unverified,
    )  # fmt: skip


class StoryAlerter:
    """Turns storied items into first alerts and updates, keeping each story's state in the suppression store."""

    def __init__(self, rules: RuleSet, store: SuppressionStore, book: StoryBook, interval_s: float) -> None:
        self._rules = {r.id: r for r in rules.rules if r.spec.enabled}
        self._store = store
        self._book = book
        self._interval = timedelta(seconds=interval_s)
        self._waiting: set[str] = set()
        # The partitions of the storied topic this member reads, and how many it has; None: all of them.
        self._owned: tuple[set[int], int] | None = None

    def resume(self) -> int:
        """Pick up the updates that were waiting when the stage stopped (of the stories it owns); return how many."""
        self._waiting = {st.event_id for st in self._store.waiting() if st.rule_id in self._rules and self._owns(st)}
        return len(self._waiting)

    def hold(self, partitions: set[int], count: int) -> int:
        """Own the stories of these partitions (of `count`) alone: another member sends the others' waiting updates.
        Return how many updates are waiting among them."""
        self._owned = (partitions, count)
        return self.resume()

    def _owns(self, st: AlertState) -> bool:
        if self._owned is None:
            return True
        partitions, count = self._owned
        return bool(st.story_id) and count > 0 and partition_of(st.story_id, count) in partitions

    def first_alert(
        self, rule: Rule, c: ClassifiedItem, view: StoryView, now: datetime, allow: Callable[[Rule], bool]
    ) -> Alert | None:
        """The story's first alert for the rule, when the item matches and the story is corroborated enough;
        past the rule's rate limit (`allow` says no) it goes into the rule's overflow digest."""
        reasons = rule.match(c)
        if reasons is None:
            return None
        extra = corroboration(rule, c, view)
        if extra is None:
            log.debug("alert.held", rule=rule.id, story_id=c.story_id, outlets=view.count, needed=rule.spec.min_outlets)
            return None
        eid = story_event_id(rule.id, c.story_id)
        announced = list(view.outlets)[: AlertState.MAX_ANNOUNCED]
        self._store.note(AlertState(event_id=eid, rule_id=rule.id, item_id=c.item.id, first_matched_at=now,
                                    story_id=c.story_id, announced=announced, last_sent_at=now))  # fmt: skip
        digest_s = rule.digest_s
        if not digest_s and rule.spec.rate_limit is not None and not allow(rule):
            digest_s = rule.spec.rate_limit.overflow_digest_minutes * 60.0
            extra = [*extra, "rule rate limit reached: sent in a digest"]
        return Alert(
            event_id=eid, rule_id=rule.id, rule_name=rule.name, sinks=list(rule.sinks), item=c,
            reasons=[*reasons, *extra], matched_at=now, story=facts(view, c, eid, announced, 0),
            mode="digest" if digest_s else "immediate", digest_s=digest_s,
        )  # fmt: skip

    def follow(self, st: AlertState, c: ClassifiedItem, view: StoryView, now: datetime) -> Alert | None:
        """A later report of an alerted story: an update now if it brings outlets and the interval has passed."""
        if not self._fresh(st, view):
            return None
        if st.last_sent_at is None or now - st.last_sent_at >= self._interval:
            return self._update(st, c, view, now)
        if st.pending is None:
            waiting = st.model_copy(update={"pending": c})
            self._store.note(waiting)
            self._waiting.add(st.event_id)
        return None

    def _fresh(self, st: AlertState, view: StoryView) -> list[str]:
        known = set(st.announced)
        return [d for d in view.outlets if d not in known]

    def _update(self, st: AlertState, c: ClassifiedItem, view: StoryView, now: datetime) -> Alert:
        rule, n, fresh = self._rules[st.rule_id], st.updates + 1, self._fresh(st, view)
        announced = [*st.announced, *fresh][: AlertState.MAX_ANNOUNCED]
        self._store.note(st.model_copy(update={"announced": announced, "last_sent_at": now, "updates": n,
                                               "pending": None}))  # fmt: skip
        self._waiting.discard(st.event_id)
        return Alert(
            event_id=update_event_id(st.event_id, n), rule_id=rule.id, rule_name=rule.name, sinks=list(rule.sinks),
            item=c, reasons=[f"reported by {view.count} outlets ({len(fresh)} new)"], matched_at=now,
            kind="update", story=facts(view, c, st.event_id, fresh, n),
        )  # fmt: skip

    def on_item(self, c: ClassifiedItem, now: datetime, allow: Callable[[Rule], bool]) -> list[Alert]:
        """The first alerts and updates one storied item raises, over every enabled rule."""
        view = self._book.add(c)
        out = []
        for rule in self._rules.values():
            st = self._store.active(story_event_id(rule.id, c.story_id), now)
            a = self.first_alert(rule, c, view, now, allow) if st is None else self.follow(st, c, view, now)
            if a is not None:
                out.append(a)
        return out

    def due(self, now: datetime) -> list[Alert]:
        """Updates whose interval has passed with a report waiting for them."""
        out = []
        for eid in list(self._waiting):
            st = self._store.active(eid, now)
            view = self._book.get(st.story_id) if st is not None else None
            if st is None or st.pending is None or view is None:
                self._waiting.discard(eid)  # sent meanwhile, expired, or its story closed
                continue
            if st.last_sent_at is None or now - st.last_sent_at >= self._interval:
                out.append(self._update(st, st.pending, view, now))
        return out
