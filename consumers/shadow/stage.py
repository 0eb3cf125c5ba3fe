"""The `shadow` stage: shadow rules on `news.classified`, and the shadow model's scores on `news.raw` through the
live rules, recorded to `news.shadow` once per story and rule within the suppression window; nothing is delivered.

It has its own consumer group and its own suppression memory (rebuilt from `news.shadow` at start-up), and never
writes the live alert-state topic, so a shadow rule can neither reach `news.alerts` nor suppress a live alert.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Literal, TypeAlias, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from classifiers.model import ModelNotFoundError, NewsClassifier
from consumers.alert.rules import RuleSet, load_rules
from consumers.alert.stage import event_id
from consumers.classify.scoring import classify_items
from monitor.messages import ClassifiedItem, DecodeError, Message, RawItem, ShadowAlert, decode, encode, utcnow
from monitor.settings import ConfigError, Settings
from monitor.stream.clients import make_consumer, make_producer
from monitor.stream.offsets import commit
from monitor.stream.produce import Outgoing, produce_retrying
from monitor.stream.reader import TopicReader
from monitor.stream.rebalance import Rebalance

log = structlog.get_logger(__name__)

_EXPIRE_EVERY_S = 3600.0

Record: TypeAlias = ConsumerRecord[bytes, bytes]
M = TypeVar("M", bound=Message)
Kind = Literal["rule", "model"]


class Recorded:
    """Which story and rule pairs the shadow side already recorded within the window (in memory)."""

    def __init__(self, window_s: float) -> None:
        self._window = timedelta(seconds=window_s)
        self._first: dict[str, datetime] = {}

    def first(self, eid: str, at: datetime) -> bool:
        """Whether the pair would alert at `at`; noted if so."""
        before = self._first.get(eid)
        if before is not None and at - before < self._window:
            return False
        self._first[eid] = at
        return True

    def expire(self, now: datetime) -> int:
        """Forget pairs whose window has closed, keeping memory bounded by the window's alerts."""
        old = [k for k, at in self._first.items() if now - at >= self._window]
        for k in old:
            del self._first[k]
        return len(old)

    def note(self, rec: Record) -> None:
        try:
            a = decode(ShadowAlert, rec.value)
        except DecodeError as exc:
            log.warning("shadow.bad_record", partition=rec.partition, offset=rec.offset, error=str(exc))
            return
        self._first[a.event_id] = max(a.matched_at, self._first.get(a.event_id, a.matched_at))


class ShadowJudge:
    """Turns input records into the shadow alerts they raise, before suppression."""

    def __init__(self, settings: Settings, rules: RuleSet, model: NewsClassifier | None) -> None:
        self._topics = settings.topics
        self._rules = rules
        self._model = model

    def __call__(self, records: list[Record]) -> list[ShadowAlert]:
        out: list[ShadowAlert] = []
        raw = [r for r in records if r.topic == self._topics.raw]
        for c in _decoded(ClassifiedItem, [r for r in records if r.topic == self._topics.classified]):
            out += self._alerts(c, "rule")
        if raw and self._model is not None:
            for c in classify_items(self._model, _decoded(RawItem, raw), explain=0):
                out += self._alerts(c, "model")
        return out

    def _alerts(self, c: ClassifiedItem, kind: Kind) -> list[ShadowAlert]:
        """Shadow rules on the live scores ("rule"), or the live rules on the shadow model's scores ("model")."""
        now = utcnow()
        return [ShadowAlert(event_id=event_id(rule.id, c.item.id), rule_id=rule.id, rule_name=rule.name, kind=kind,
                            item=c, reasons=reasons, matched_at=now)
                for rule, reasons in self._rules.matches(c, shadow=kind == "rule")]  # fmt: skip


def _decoded(cls: type[M], records: list[Record]) -> list[M]:
    """The records' messages; an undecodable one is logged and left out (the live stages dead-letter it)."""
    out = []
    for rec in records:
        try:
            out.append(decode(cls, rec.value))
        except DecodeError as exc:
            log.warning("shadow.bad_input", topic=rec.topic, offset=rec.offset, error=str(exc))
    return out


def _inputs(settings: Settings, rules: RuleSet, model: NewsClassifier | None) -> list[str]:
    """The topics the stage reads: news.classified for shadow rules, news.raw for a shadow model."""
    topics = [settings.topics.classified] if any(r.spec.shadow and r.spec.enabled for r in rules.rules) else []
    return topics + ([settings.topics.raw] if model is not None else [])


def load_shadow_model(settings: Settings) -> NewsClassifier | None:
    """The model of `classifier.shadow_model`, if set; ConfigError (exit 2) when that version is not there."""
    c = settings.classifier
    if not c.shadow_model:
        return None
    try:
        return NewsClassifier.load(c.model_dir, c.shadow_model)
    except ModelNotFoundError as exc:
        raise ConfigError(f"classifier.shadow_model {c.shadow_model}: {exc}") from exc


async def run_shadow(
    settings: Settings, stop: asyncio.Event, rules: RuleSet | None = None, model: NewsClassifier | None = None
) -> None:
    """Run until stopped; with no shadow rule and no shadow model there is nothing to do and it waits idle."""
    rules = rules or load_rules(settings.alerts.rules_file)
    model = model or load_shadow_model(settings)
    topics = _inputs(settings, rules, model)
    if not topics:
        log.info("shadow.idle", reason="no shadow rule and no classifier.shadow_model")
        await stop.wait()
        return
    recorded = Recorded(settings.alerts.suppress_window_h * 3600)
    producer = make_producer(settings.kafka)
    consumer = make_consumer(settings.kafka, group_id=settings.alerts.shadow_group_id, max_poll_records=500)
    # Partitions that move here may carry stories another instance already recorded: re-read the window first.
    consumer.subscribe(topics, listener=Rebalance(assigned=lambda _: _catch_up(settings, recorded)))
    try:
        await producer.start()
        await consumer.start()
        log.info("shadow.started", topics=topics, rules=[r.id for r in rules.rules if r.spec.shadow],
                 model=model.version if model else None)  # fmt: skip
        await _loop(settings, consumer, producer, ShadowJudge(settings, rules, model), recorded, stop)
    finally:
        await consumer.stop()
        await producer.stop()


async def _catch_up(settings: Settings, recorded: Recorded) -> None:
    """Note what news.shadow holds from the last suppression window."""
    reader = TopicReader(settings.kafka, settings.topics.shadow, recorded.note)
    try:
        await reader.start(since=utcnow() - timedelta(hours=settings.alerts.suppress_window_h))
    finally:
        await reader.stop()


async def _loop(settings: Settings, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, judge: ShadowJudge,
                recorded: Recorded, stop: asyncio.Event) -> None:  # fmt: skip
    """Judge, suppress, record and commit batch by batch; the batch in hand when stop arrives is finished first."""
    expired_at = time.monotonic()
    while not stop.is_set():
        batch = await consumer.getmany(timeout_ms=200, max_records=500)
        if time.monotonic() - expired_at > _EXPIRE_EVERY_S:
            expired_at = time.monotonic()
            recorded.expire(utcnow())
        records = [r for recs in batch.values() for r in recs]
        if not records:
            continue
        found = await asyncio.to_thread(judge, records)
        alerts = [a for a in found if recorded.first(a.event_id, a.matched_at)]
        out = [Outgoing(settings.topics.shadow, a.event_id.encode(), encode(a)) for a in alerts]
        if await produce_retrying(producer, out, stage="shadow", stop=stop) is None:
            break
        for a in alerts:
            log.info("shadow.recorded", kind=a.kind, rule=a.rule_id, event_id=a.event_id)
        await commit(consumer, {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}, "shadow")
