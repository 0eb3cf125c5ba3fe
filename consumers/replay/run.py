"""One replay from start to report: check the input, resolve the range, read, classify, match, compare, count."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from classifiers.model import ModelNotFoundError, NewsClassifier
from consumers.alert.rules import RuleSet, load_rules
from consumers.replay.corpus import Corpus
from consumers.replay.diff import LiveDiff
from consumers.replay.evaluate import Alerting, Seen, Wanted
from consumers.replay.judge import Judge, Judgement, JudgeSpec
from consumers.replay.live import LiveAlert, live_alerts
from consumers.replay.outputs import ReplayOutputs
from consumers.replay.pool import Judging
from consumers.replay.progress import Progress, Silent
from consumers.replay.report import build_report
from consumers.replay.request import ReplayInputError, ReplayRequest
from consumers.replay.scorecard import Scorecard, load_labels
from consumers.replay.source import Replayable, read_spans, replay_consumer
from consumers.replay.tally import Tally
from consumers.replay.window import Span, range_spans
from monitor.settings import ConfigError, Settings
from monitor.stream.clients import start_client

if TYPE_CHECKING:
    from consumers.replay.stories import StoryReplay

log = structlog.get_logger(__name__)

# The simulated suppression state is pruned this often (in batches), keeping memory flat over long ranges.
_EXPIRE_EVERY = 50


def load_model(settings: Settings, req: ReplayRequest) -> NewsClassifier | None:
    """The model to re-classify `news.raw` with; None for `news.classified`, whose items keep their scores."""
    if req.topic != settings.topics.raw:
        return None
    version = req.model_version or settings.classifier.model_version
    try:
        return NewsClassifier.load(settings.classifier.model_dir, version)
    except ModelNotFoundError as exc:
        raise ReplayInputError(f"model {version or '(newest)'}: {exc}") from exc


def load_rule_set(path: Path) -> RuleSet:
    try:
        return load_rules(path)
    except ConfigError as exc:
        raise ReplayInputError(f"invalid rules file: {exc}") from exc


def judging_workers(settings: Settings, spec: JudgeSpec) -> int:
    """Worker processes to score items or read them whole; none to match views, cheaper than handing records over."""
    heavy = spec.model_dir is not None or spec.keep_items or spec.stories
    return settings.classifier.workers if heavy else 1


def check_topic(settings: Settings, req: ReplayRequest) -> None:
    known = (settings.topics.raw, settings.topics.classified)
    if req.topic not in known:
        raise ReplayInputError(f"cannot replay {req.topic}: choose {known[0]} (re-classify and match) "
                               f"or {known[1]} (match only)")  # fmt: skip


class Replay:
    """The ordered, per-item steps of one replay, fed batch by batch with what the judges made of the records."""

    def __init__(
        self, settings: Settings, req: ReplayRequest, judging: Judging, stories: StoryReplay | None = None
    ) -> None:
        self.req = req
        self.judging = judging
        self.wanted = Wanted(req.filters)
        self.alerting = Alerting(settings.alerts.suppress_window_h * 3600)
        # On stories the alerts are counted per story, as the alert stage raises them; else per item.
        self.stories = stories
        self.tally = Tally()
        self.diff: LiveDiff | None = None
        self.outputs: ReplayOutputs | None = None
        self.scorecard = Scorecard(load_labels(req.labels_path), req.target_precision) if req.labels_path else None
        self.bad = 0
        self.filtered = 0
        self.batches = 0
        self._since_ms = int(req.since.timestamp() * 1000)
        self._until_ms = int(req.until.timestamp() * 1000) if req.until else None

    def _in_range(self, timestamp_ms: int) -> bool:
        # Offsets bound the range; a record stamped out of order may still fall outside it.
        return self._since_ms <= timestamp_ms and (self._until_ms is None or timestamp_ms < self._until_ms)

    def judge(self, records: Sequence[Replayable]) -> asyncio.Future[Judgement]:
        """Start judging a batch; the next batch is read while this one is judged."""
        return asyncio.ensure_future(self.judging([r.value for r in records]))

    def apply(self, records: Sequence[Replayable], judged: Judgement) -> None:
        """Run a judged batch through the ordered steps: range, filters, suppression, counts, diff, metrics."""
        self.batches += 1
        for index, reason in judged.bad:
            rec = records[index]
            log.warning("replay.bad_input", topic=rec.topic, partition=rec.partition, offset=rec.offset, error=reason)
        self.bad += len(judged.bad)
        seen = []
        for j in judged.items:
            rec = records[j.position]
            if not self._in_range(rec.timestamp) or not self.wanted(j):
                self.filtered += 1
                continue
            if self.stories is not None:
                alerts = tuple(self.stories.see(rec.timestamp / 1000, j))
                seen.append(Seen(rec.partition, rec.offset, rec.timestamp, j, alerts))
            else:
                seen.append(self.alerting(rec.partition, rec.offset, rec.timestamp, j))
        self._see(seen)
        if self.batches % _EXPIRE_EVERY == 0:
            self.alerting.expire()

    def _see(self, seen: list[Seen]) -> None:
        self.tally.add(seen)
        if self.diff is not None:
            for s in seen:
                self.diff.see(s)
        if self.scorecard is not None:
            for s in seen:
                self.scorecard.see(s)
        if self.outputs is not None:
            for s in seen:
                self.outputs.see(s)


async def _pipeline(replay: Replay, batches: AsyncIterator[Sequence[Replayable]], bar: Progress) -> int:
    """Apply each judged batch while the next one is judged (one in flight); return the records read."""
    read = 0
    pending: tuple[Sequence[Replayable], asyncio.Future[Judgement]] | None = None
    try:
        async for records in batches:
            done = None if pending is None else (pending[0], await pending[1])
            pending = (records, replay.judge(records))
            if done is not None:
                read += await _apply(replay, *done, bar)
        if pending is not None:
            done, pending = (pending[0], await pending[1]), None
            read += await _apply(replay, *done, bar)
    finally:
        if pending is not None:
            pending[1].cancel()
    return read


@contextlib.contextmanager
def _start_up_set_aside() -> Iterator[None]:
    """Keep what start-up built (modules, rules, model) out of the collector's full passes while records stream.

    Every batch makes thousands of short-lived objects, and each full pass walked that whole heap again: about a
    sixth of a rules-only replay's CPU.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _apply(replay: Replay, records: Sequence[Replayable], judged: Judgement, bar: Progress) -> int:
    replay.apply(records, judged)
    if replay.outputs is not None:
        await replay.outputs.flush()
    bar.advance(len(records))
    return len(records)


Source = tuple[list[Span], dict[str, LiveAlert] | None, AsyncIterator[Sequence[Replayable]]]


@contextlib.asynccontextmanager
async def _from_topic(
    settings: Settings, req: ReplayRequest, run_id: str, stop: asyncio.Event
) -> AsyncIterator[Source]:
    """The range's spans, the live alerts from its start, and its records, read without a group."""
    consumer = replay_consumer(settings.kafka, run_id)
    await start_client(consumer, settings.kafka)
    try:
        spans = await range_spans(settings.kafka, consumer, req)
        live = await live_alerts(settings.kafka, consumer, settings.topics.alerts, req.since, stop)
        yield spans, live, read_spans(consumer, req.topic, spans, stop, req.batch)
    finally:
        await consumer.stop()


async def _batches(corpus: Corpus, stop: asyncio.Event, size: int) -> AsyncIterator[Sequence[Replayable]]:
    for batch in corpus.batches(stop, size):
        yield batch


@contextlib.asynccontextmanager
async def _from_file(corpus: Corpus, stop: asyncio.Event, size: int) -> AsyncIterator[Source]:
    """The same from a corpus file written by `newsmon export`."""
    try:
        yield corpus.spans, corpus.live_alerts(), _batches(corpus, stop, size)
    finally:
        corpus.close()


def _as_corpus_topic(settings: Settings, req: ReplayRequest, corpus: Corpus | None) -> ReplayRequest:
    """A request for a corpus file replays the file's topic, known by its role (raw or classified)."""
    if corpus is None:
        return req
    return replace(req, topic=settings.topics.raw if corpus.role == "raw" else settings.topics.classified)


def _stories(settings: Settings, rules: RuleSet) -> StoryReplay | None:
    if not settings.stories.enabled:
        return None
    # Imported only here: clustering brings in datasketch and scipy, which a replay on items does not need.
    from consumers.replay.stories import StoryReplay

    return StoryReplay(settings, rules)


async def run_replay(
    settings: Settings,
    req: ReplayRequest,
    stop: asyncio.Event | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> dict[str, Any]:
    """Replay in dry run and return the report; nothing is produced and no group offsets are touched."""
    stop = stop or asyncio.Event()
    corpus = Corpus(req.from_file) if req.from_file is not None else None
    req = _as_corpus_topic(settings, req, corpus)
    check_topic(settings, req)
    rules_path = req.rules_path or settings.alerts.rules_file
    model = load_model(settings, req)
    # Workers load the very version resolved here, even if a newer model is written meanwhile.
    spec = JudgeSpec(rules_path, settings.classifier.model_dir if model is not None else None,
                     model.version if model is not None else "", req.thresholds, req.output_topics,
                     settings.stories.enabled)  # fmt: skip
    judge = Judge(spec, load_rule_set(rules_path), model)
    judging = Judging(spec, judge, judging_workers(settings, spec))
    replay = Replay(settings, req, judging, _stories(settings, judge.rules))
    run_id = uuid.uuid4().hex[:12]
    replay.outputs = ReplayOutputs(settings, run_id, judge.rules) if req.output_topics else None
    started, wall = time.monotonic(), datetime.now(UTC)
    source = _from_file(corpus, stop, req.batch) if corpus is not None else _from_topic(settings, req, run_id, stop)
    bar: Progress = Silent()
    read, ready = 0, 0.0
    try:
        async with source as (spans, live, batches):
            if replay.outputs is not None:
                await replay.outputs.start()
            await judging.start()
            ready = time.monotonic() - started
            replay.diff = LiveDiff(live, req.examples) if live is not None else None
            bar = (progress or (lambda n: Silent()))(sum(s.size for s in spans))
            with _start_up_set_aside():
                read = await _pipeline(replay, batches, bar)
            if replay.outputs is not None:
                await replay.outputs.drain()
    finally:
        bar.close()
        judging.close()
        if replay.outputs is not None:
            await replay.outputs.close()
    partial = stop.is_set()
    seconds = time.monotonic() - started
    log.info("replay.done", topic=req.topic, records=read, items=replay.tally.items, alerts=replay.tally.alerts,
             partial=partial, seconds=round(seconds, 3))  # fmt: skip
    reading = seconds - ready
    run = {"id": run_id, "started_at": wall.isoformat(), "seconds": round(seconds, 3), "startup_s": round(ready, 3),
           "records_per_s": round(read / reading, 1) if reading > 0 else None, "workers": judging.workers,
           "since": req.since.isoformat(), "until": req.until.isoformat() if req.until else None,
           "from_file": str(req.from_file) if req.from_file else None,
           "outputs": replay.outputs.as_dict() if replay.outputs is not None else None}  # fmt: skip
    return build_report(replay, spans, read, partial, model, run)
