"""The `alert` stage: `news.classified` -> rules -> `news.alerts`, once per item and rule; with stories enabled,
`news.storied` -> rules -> `news.alerts`, once per story and rule and then updates (consumers/alert/on_stories.py).

An alert is produced and acknowledged before the pair is recorded in the compacted alert-state topic, and the
input offset is committed only after both: a crash in between can repeat an alert (the delivery stage skips what
a sink already received), never lose one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from consumers.alert import metrics as matcher_metrics
from consumers.alert.on_stories import StoryAlerter
from consumers.alert.outlets import StoryBook
from consumers.alert.rules import Rule, RuleSet, load_rules
from consumers.alert.suppression import SuppressionStore
from monitor.messages import Alert, AlertState, ClassifiedItem, DecodeError, decode, encode, utcnow
from monitor.ops.consumer import ConsumerWatch
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import Settings, TopicSettings
from monitor.stream import dead_letter
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.dead_letter import produce_or_dead_letter
from monitor.stream.offsets import commit
from monitor.stream.produce import Outgoing, produce_retrying
from monitor.stream.rebalance import Rebalance

log = structlog.get_logger(__name__)

_EXPIRE_EVERY_S = 3600.0


def event_id(rule_id: str, item_id: str) -> str:
    """The stable id of the alert a rule raises for a story."""
    return hashlib.sha256(f"{rule_id}\n{item_id}".encode()).hexdigest()[:32]


class RuleRate:
    """Immediate alerts per rule in a sliding window; past the rule's limit, matches go into its digest."""

    def __init__(self) -> None:
        self._sent: dict[str, deque[float]] = {}

    def allow(self, rule: Rule, now: float) -> bool:
        limit = rule.spec.rate_limit
        if limit is None:
            return True
        sent = self._sent.setdefault(rule.id, deque())
        window = limit.per_minutes * 60.0
        while sent and now - sent[0] >= window:
            sent.popleft()
        if len(sent) >= limit.max:
            return False
        sent.append(now)
        return True


def alerts_for(
    rules: RuleSet, c: ClassifiedItem, store: SuppressionStore, rate: RuleRate, now: datetime, mono: float
) -> list[Alert]:
    """The alerts one classified item raises: every matching rule whose pair has not alerted within the window."""
    out = []
    for rule, reasons in rules.matches(c):
        eid = event_id(rule.id, c.item.id)
        if store.suppressed(eid, now):
            continue
        digest_s = rule.digest_s
        if not digest_s and rule.spec.rate_limit is not None and not rate.allow(rule, mono):
            digest_s = rule.spec.rate_limit.overflow_digest_minutes * 60.0
            reasons = [*reasons, "rule rate limit reached: sent in a digest"]
        out.append(
            Alert(
                event_id=eid,
                rule_id=rule.id,
                rule_name=rule.name,
                sinks=list(rule.sinks),
                item=c,
                reasons=reasons,
                matched_at=now,
                mode="digest" if digest_s else "immediate",
                digest_s=digest_s,
            )
        )
        store.note(AlertState(event_id=eid, rule_id=rule.id, item_id=c.item.id, first_matched_at=now))
    return out


async def _produce_alerts(
    producer: AIOKafkaProducer, t: TopicSettings, alerts: list[Alert], letters: list[Outgoing], stop: asyncio.Event
) -> list[Alert] | None:
    """Produce alerts and dead letters through broker outages; return the alerts produced, None if stopped meanwhile.

    An alert too large to produce dead-letters its story instead: one record must never stall the stage.
    """
    out = [Outgoing(t.alerts, a.event_id.encode(), encode(a)) for a in alerts]
    refused = await produce_or_dead_letter(
        producer, out, letters, lambda i, reason: _letter(t, alerts[i], reason), stage="alert", stop=stop
    )
    if refused is None:
        return None
    matcher_metrics.STAGE.bad_input(len(letters) + len(refused))
    return [a for i, a in enumerate(alerts) if i not in refused]


def _letter(t: TopicSettings, a: Alert, reason: str) -> Outgoing:
    log.warning("alert.too_large", event_id=a.event_id, reason=reason)
    return dead_letter.outgoing(t.dead_letter, dead_letter.letter(encode(a.item), a.item.key(), t.classified, reason))


async def run_matcher(
    settings: Settings,
    stop: asyncio.Event,
    rules: RuleSet | None = None,
    readiness: Readiness | None = None,
    status: StatusBoard | None = None,
) -> None:
    """Run until stopped; the batch in hand when stop arrives is finished and committed first.

    Readiness: `alert.rules` once the rules are loaded and valid, `alert.partitions` while the consumer holds some.
    The alerts produced are shown on the status page of `status`.
    """
    s, t = settings.alerts, settings.topics
    ready = readiness or Readiness()
    rules_ok, assigned = ready.require("alert.rules"), ready.require("alert.partitions")
    rules = rules or load_rules(s.rules_file)
    rules_ok.up(f"{sum(r.spec.enabled for r in rules.rules)} rules enabled from {rules.path}")
    producer = make_producer(settings.kafka)
    await producer.start()
    store = SuppressionStore(settings.kafka, t.alert_state, s.suppress_window_h * 3600, producer)
    consumer: AIOKafkaConsumer | None = None
    watch: ConsumerWatch | None = None
    produced = 0
    on_stories = settings.stories.enabled
    source = t.storied if on_stories else t.classified
    book = StoryBook(timedelta(hours=settings.stories.window_h))
    stories = StoryAlerter(rules, store, book, s.update_interval_min * 60.0)
    try:
        await store.start()
        if on_stories:
            await book.load(settings.kafka, t.stories)
            stories.hold(set(), 0)  # waiting updates are picked up with the partitions of their stories
        consumer = make_consumer(settings.kafka, group_id=s.matcher_group_id, max_poll_records=500)
        # Partitions that move here may carry stories another instance already alerted for: re-read the state.
        on_assigned = _taking_stories(consumer, source, store, book, stories, settings) if on_stories else None
        consumer.subscribe([source], listener=Rebalance(
            revoked=lambda _: _release(stories), assigned=on_assigned or (lambda _: store.catch_up())))  # fmt: skip
        await consumer.start()
        watch = ConsumerWatch(consumer, "alert", assigned, settings.metrics.lag_interval_s)
        log.info("alert.started", rules=[r.id for r in rules.rules if r.spec.enabled], file=str(rules.path),
                 topic=source, on="stories" if on_stories else "items")  # fmt: skip
        rate = RuleRate()
        expired_at = time.monotonic()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if time.monotonic() - expired_at > _EXPIRE_EVERY_S:
                expired_at = time.monotonic()
                await store.expire()
                book.expire()
            records = [r for recs in batch.values() for r in recs]
            due = stories.due(utcnow()) if on_stories else []
            if not records and not due:
                continue
            matcher_metrics.read(len(records))
            judge = _item_judge(rules, store, rate)
            judge = _story_judge(stories, judge, rate) if on_stories else judge
            matched, letters = _match(judge, records, t.dead_letter, "story_id" if on_stories else "item_id")
            alerts = await _produce_alerts(producer, t, due + matched, letters, stop)
            if alerts is None:
                break
            changed = store.take_changed()
            states = changed if on_stories else [_state_of(a) for a in alerts]
            out = [Outgoing(t.alert_state, x.event_id.encode(), encode(x)) for x in states]
            if await produce_retrying(producer, out, stage="alert", stop=stop) is None:
                break
            for a in alerts:
                with structlog.contextvars.bound_contextvars(event_id=a.event_id, item_id=a.item.item.id):
                    log.info("alert.matched", rule=a.rule_id, mode=a.mode, kind=a.kind,
                             story_id=a.story.story_id if a.story else None, title=a.item.item.title)  # fmt: skip
            matcher_metrics.alerted(alerts)
            if status is not None:
                status.alerted(alerts)
            produced += len(alerts)
            if records:
                await commit(consumer, {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}, "alert")
    finally:
        if watch is not None:
            await watch.close()
        if consumer is not None:
            await consumer.stop()
        await store.stop()
        await producer.stop()
        log.info("alert.stopped", alerts=produced)


async def _release(stories: StoryAlerter) -> None:
    """Partitions leaving this member: their stories' waiting updates are the next owner's to send."""
    stories.hold(set(), 0)


def _taking_stories(
    consumer: AIOKafkaConsumer, source: str, store: SuppressionStore, book: StoryBook, stories: StoryAlerter,
    settings: Settings,
) -> Callable[[set[TopicPartition]], Awaitable[None]]:  # fmt: skip
    """What a member does with partitions of the storied topic it is given: re-read the alert state and the
    stories (the previous owner grew both), then own their stories' waiting updates."""

    async def taken(assigned: set[TopicPartition]) -> None:
        await store.catch_up()
        await book.load(settings.kafka, settings.topics.stories)
        count = len(consumer.partitions_for_topic(source) or ())
        waiting = stories.hold({tp.partition for tp in assigned if tp.topic == source}, count)
        log.info("alert.updates_waiting", updates=waiting, partitions=sorted(tp.partition for tp in assigned))

    return taken


Judge = Callable[[ClassifiedItem, datetime, float], list[Alert]]


def _item_judge(rules: RuleSet, store: SuppressionStore, rate: RuleRate) -> Judge:
    return lambda c, now, mono: alerts_for(rules, c, store, rate, now, mono)


def _story_judge(stories: StoryAlerter, item: Judge, rate: RuleRate) -> Judge:
    """Items on the storied topic always carry a story; one without (a writer's bug) is judged as an item."""
    return lambda c, now, mono: (
        stories.on_item(c, now, lambda rule: rate.allow(rule, mono)) if c.story_id else item(c, now, mono)
    )


def _state_of(a: Alert) -> AlertState:
    return AlertState(event_id=a.event_id, rule_id=a.rule_id, item_id=a.item.item.id, first_matched_at=a.matched_at)


def _match(
    judge: Judge, records: list[ConsumerRecord[bytes, bytes]], dlq_topic: str, key_name: str
) -> tuple[list[Alert], list[Outgoing]]:
    alerts: list[Alert] = []
    letters: list[Outgoing] = []
    now, mono = utcnow(), time.monotonic()
    for rec in records:
        try:
            c = decode(ClassifiedItem, rec.value)
        except DecodeError as exc:
            letters.append(dead_letter.outgoing(dlq_topic, dead_letter.of_record(rec, str(exc))))
            # Records are keyed by item id (by story id on the storied topic), so even an undecodable one is named.
            named = {key_name: (rec.key or b"").decode(errors="replace")}
            log.warning("alert.bad_input", topic=rec.topic, offset=rec.offset, error=str(exc), **named)
            continue
        with structlog.contextvars.bound_contextvars(item_id=c.item.id):
            alerts.extend(judge(c, now, mono))
    return alerts, letters
