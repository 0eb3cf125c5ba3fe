"""`newsmon replay` on a real broker: a simulated week of items, live alerts from the real alert stage, and
replays with changed thresholds and rules whose counts, diff and metrics are exact, repeatable and side-effect free.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from classifiers.model import NewsClassifier
from classifiers.text import model_text
from consumers.alert.rules import load_rules
from consumers.classify.stage import run_classifier
from consumers.replay.commands import build_request, summary
from consumers.replay.corpus import export
from consumers.replay.html import render
from consumers.replay.progress import Lines, Progress
from consumers.replay.request import Filters, ReplayInputError, ReplayRequest
from consumers.replay.run import run_replay
from monitor.messages import Alert, ClassifiedItem, RawItem, decode, encode
from monitor.settings import ClassifierSettings, KafkaSettings, Settings
from monitor.stream.clients import make_producer
from monitor.topics import ensure_topics, topic_specs
from tests.conftest import make_settings
from tests.support.alerts import FILE_SINK_RULES, alerting, classified, fast
from tests.support.browser import render as render_in_chromium
from tests.support.kafka import committed_offsets, end_offsets, group_caught_up, read_topic
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
ITEMS = 2000
WEEK = timedelta(days=7)
SOURCES = ("Wire", "Gazette", "Courier")
LANGS = ("en", "de", "fr")

LIVE_RULES = (
    FILE_SINK_RULES
    + """\
  - id: incidents
    labels: [cross_border_incident]
  - id: elections
    labels: {election: 0.6}
"""
)
# The change under test: a stricter election floor and a new rule for German incidents.
NEW_RULES = LIVE_RULES.replace("election: 0.6", "election: 0.75") + (
    "  - id: german-incidents\n    labels: {cross_border_incident: 0.3}\n    languages: [de]\n"
)


@dataclass(frozen=True)
class Story:
    at: datetime
    item: ClassifiedItem


def week_of_stories(end: datetime) -> list[Story]:
    """ITEMS stories spread over the week before `end`; every tenth is republished (same id and scores) later."""
    rng = random.Random(12)
    step = WEEK / ITEMS
    start = end - WEEK
    out = []
    for i in range(ITEMS):
        c = classified(i, incident=round(rng.random(), 3), election=round(rng.random() ** 2, 3),
                       source=SOURCES[i % 3], lang=LANGS[(i // 3) % 3])  # fmt: skip
        out.append(Story(start + i * step, c))
        if i % 10 == 0:
            later = start + min(i + 50, ITEMS - 1) * step + step / 2
            out.append(Story(later, c.model_copy(update={"item": c.item.model_copy(update={"title": "Update"})})))
    return sorted(out, key=lambda s: s.at)


def expected_alerts(
    stories: list[Story], incident_at: float, election_floor: float, german: bool
) -> set[tuple[str, str]]:
    """(rule, item id) pairs the rules fire for, each once however often the story was published."""
    out = set()
    for s in stories:
        sc, it = s.item.scores, s.item.item
        if sc["cross_border_incident"] >= incident_at:
            out.add(("incidents", it.id))
        if sc["election"] >= election_floor:
            out.add(("elections", it.id))
        if german and it.lang == "de" and sc["cross_border_incident"] >= 0.3:
            out.add(("german-incidents", it.id))
    return out


def page_is_self_contained(page: str, report: dict[str, Any]) -> None:
    """The HTML report is well-formed, fetches nothing, and shows the charts, counts and examples."""
    root = ElementTree.fromstring(page.removeprefix("<!doctype html>"))
    assert not [e for e in root.iter() if e.get("src") or e.tag in ("script", "link", "img", "iframe")]
    svgs = [e for e in root.iter() if e.tag.endswith("svg")]
    charts = 2 + len(report["alerts"]["per_hour"]) + 2  # score histograms, alerts per hour, precision-recall curves
    assert len(svgs) == charts and all(list(svg) for svg in svgs)
    cells = {"".join(td.itertext()) for td in root.iter("td")}
    assert {str(report["diff"]["added"]), report["diff"]["examples"]["removed"][0]["title"]} <= cells
    links = {a.get("href") for a in root.iter("a")}
    assert report["diff"]["examples"]["added"][0]["url"] in links


def hand_labels(stories: list[Story], path: Path) -> dict[str, tuple[dict[str, float], set[str]]]:
    """Labels for the first 400 stories (the score decides, every seventh is marked wrong), plus one unknown id."""
    truth = {}
    for st in stories:
        it, sc = st.item.item, st.item.scores
        n = int(it.id.split("-")[1])
        if n < 400 and it.id not in truth:
            labels = {x for x in sc if (sc[x] >= 0.6) != (n % 7 == 0)}
            truth[it.id] = (sc, labels)
    lines = [json.dumps({"id": i, "labels": sorted(labels)}) for i, (_, labels) in truth.items()]
    path.write_text("\n".join([*lines, json.dumps({"id": "not-replayed", "labels": ["election"]})]) + "\n")
    return truth


def scores_at(truth: dict[str, tuple[dict[str, float], set[str]]], label: str, at: float) -> dict[str, float]:
    tp = sum(sc[label] >= at and label in labels for sc, labels in truth.values())
    fp = sum(sc[label] >= at and label not in labels for sc, labels in truth.values())
    fn = sum(sc[label] < at and label in labels for sc, labels in truth.values())
    p, r = tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}  # fmt: skip


def lowest_threshold_reaching(truth: dict[str, tuple[dict[str, float], set[str]]], label: str, target: float) -> float:
    for i in range(101):
        m = scores_at(truth, label, i / 100)
        if m["tp"] and m["precision"] >= target:
            return i / 100
    raise AssertionError("no threshold reaches the target")


async def produce_at(settings: Settings, stories: list[Story]) -> None:
    producer = make_producer(settings.kafka)
    await producer.start()
    try:
        futures = [
            await producer.send(
                settings.topics.classified,
                encode(s.item),
                key=s.item.key().encode(),
                timestamp_ms=int(s.at.timestamp() * 1000),
            )
            for s in stories
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def groups(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        return {g[0] for g in await admin.list_consumer_groups()}
    finally:
        await admin.close()


async def live_ends(settings: Settings) -> dict[str, dict[int, int]]:
    t = settings.topics
    names = (t.raw, t.classified, t.alerts, t.alert_state, t.deliveries, t.dead_letter)
    return {name: await end_offsets(settings.kafka.bootstrap_servers, name) for name in names}


def newsmon(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120, check=False)  # fmt: skip


def workers(settings: Settings, n: int) -> Settings:
    return settings.model_copy(update={"classifier": settings.classifier.model_copy(update={"workers": n})})


def without_run(report: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in report.items() if k != "run"}, sort_keys=True)


@pytest.fixture(scope="module")
async def live_week(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, list[Story], datetime, Path]:
    """A week of classified stories on fresh topics, matched by the real alert stage with LIVE_RULES (read-only)."""
    tmp = tmp_path_factory.mktemp("week")
    s = workers(fast(make_settings(kafka_bootstrap, tmp)), 1)
    await ensure_topics(s.kafka, topic_specs(s.topics), 1)
    end = datetime.now(UTC) - timedelta(hours=1)
    stories = week_of_stories(end)
    await produce_at(s, stories)
    (tmp / "live.yaml").write_text(LIVE_RULES)
    (tmp / "new.yaml").write_text(NEW_RULES)
    async with alerting(s, load_rules(tmp / "live.yaml"), delivery=False):
        bootstrap = s.kafka.bootstrap_servers
        assert await wait_until(lambda: group_caught_up(bootstrap, s.alerts.matcher_group_id, s.topics.classified), 60)
    return s, stories, end - WEEK - timedelta(minutes=1), tmp


async def test_replay_of_a_week_diffs_exactly_against_live_and_leaves_no_trace(
    live_week: tuple[Settings, list[Story], datetime, Path], tmp_path: Path
) -> None:
    s, stories, since, rules_dir = live_week
    live = expected_alerts(stories, 0.5, 0.6, german=False)
    offsets_before = await committed_offsets(s.kafka.bootstrap_servers, s.alerts.matcher_group_id, s.topics.classified)
    groups_before, ends_before = await groups(s), await live_ends(s)

    as_live = ReplayRequest(topic=s.topics.classified, since=since, rules_path=rules_dir / "live.yaml")
    same = await run_replay(s, as_live)
    assert same["records_read"] == len(stories) and same["items"] == len(stories)
    assert same["alerts"]["total"] == len(live)
    assert same["diff"] | {"examples": None} == {"live_alerts": len(live), "unchanged": len(live), "added": 0,
                                                 "removed": 0, "label_changes": 0, "examples": None}  # fmt: skip

    truth = hand_labels(stories, tmp_path / "labels.jsonl")
    req = ReplayRequest(topic=s.topics.classified, since=since, rules_path=rules_dir / "new.yaml",
                        thresholds={"cross_border_incident": 0.7}, labels_path=tmp_path / "labels.jsonl",
                        target_precision=0.8)  # fmt: skip
    changed = await run_replay(s, req)
    new = expected_alerts(stories, 0.7, 0.75, german=True)
    assert changed["alerts"]["total"] == len(new)
    assert changed["alerts"]["by_rule"] == {r: sum(1 for x, _ in new if x == r) for r in sorted({x for x, _ in new})}
    d = changed["diff"]
    assert (d["added"], d["removed"], d["unchanged"]) == (len(new - live), len(live - new), len(new & live))
    relabelled = {i for r, i in live} & {
        s.item.item.id for s in stories if 0.5 <= s.item.scores["cross_border_incident"] < 0.7
    }
    assert d["label_changes"] == len(relabelled)
    assert {(x["rule_id"], x["item_id"]) for x in d["examples"]["added"]} <= new - live
    assert {(x["rule_id"], x["item_id"]) for x in d["examples"]["removed"]} <= live - new
    assert all(x["live_labels"] != x["replay_labels"] for x in d["examples"]["label_changes"])
    assert len(d["examples"]["added"]) == 10
    assert sum(changed["by_language"][lang]["alerts"] for lang in LANGS) == len(new)

    m = changed["metrics"]
    assert (m["labelled"], m["labelled_replayed"]) == (len(truth) + 1, len(truth))
    for label, at in (("cross_border_incident", 0.7), ("election", 0.5)):
        got = m["labels"][label]
        assert {k: got[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")} == scores_at(truth, label, at)
        assert got["threshold_for_target"] == lowest_threshold_reaching(truth, label, 0.8)

    page_is_self_contained(render(changed), changed)
    text = summary(json.loads(json.dumps(changed)))
    assert f"alerts: {len(new)}" in text and f"{d['added']} added, {d['removed']} removed" in text

    # Without a model to run, worker processes would cost more than they save: judged here whatever the setting.
    again = await run_replay(workers(s, 2), req)
    assert without_run(again) == without_run(changed) and again["run"]["workers"] == 1

    assert await committed_offsets(s.kafka.bootstrap_servers, s.alerts.matcher_group_id, s.topics.classified) == (
        offsets_before
    )
    assert await groups(s) == groups_before
    assert await live_ends(s) == ends_before


async def test_replay_filters_and_bounds_the_range(live_week: tuple[Settings, list[Story], datetime, Path]) -> None:
    s, stories, since, rules_dir = live_week
    until = since + WEEK / 2
    req = ReplayRequest(topic=s.topics.classified, since=since, until=until, rules_path=rules_dir / "live.yaml",
                        filters=Filters(sources=("Gazette",), langs=("de",)))  # fmt: skip
    report = await run_replay(s, req)
    chosen = [x for x in stories if x.at < until and x.item.item.source == "Gazette" and x.item.item.lang == "de"]
    assert report["items"] == len(chosen)
    assert report["alerts"]["total"] == len(expected_alerts(chosen, 0.5, 0.6, german=False))
    assert report["diff"]["added"] == report["diff"]["removed"] == 0


async def test_bad_input_is_refused_with_a_clear_message(settings: Settings, tmp_path: Path) -> None:
    settings = workers(settings, 1)
    rules = tmp_path / "rules.yaml"
    rules.write_text(LIVE_RULES)
    since = datetime.now(UTC) - timedelta(days=1)
    cases = [
        (ReplayRequest(topic="no.such.topic", since=since, rules_path=rules), "cannot replay no.such.topic"),
        (ReplayRequest(topic=settings.topics.classified, since=since, rules_path=rules), "holds no records"),
        (ReplayRequest(topic=settings.topics.raw, since=since, rules_path=rules, model_version="v0-nope"), "v0-nope"),
    ]
    (tmp_path / "bad.yaml").write_text(LIVE_RULES.replace("election: 0.6", "elections: 0.6"))
    cases.append((ReplayRequest(topic=settings.topics.classified, since=since, rules_path=tmp_path / "bad.yaml"),
                  "invalid rules file"))  # fmt: skip
    for req, message in cases:
        with pytest.raises(ReplayInputError, match=message):
            await run_replay(settings, req)


async def test_interrupted_replay_reports_what_it_read_marked_partial(
    live_week: tuple[Settings, list[Story], datetime, Path],
) -> None:
    s, stories, since, rules_dir = live_week
    stop = asyncio.Event()
    out = io.StringIO()

    class StopAfterFirstBatch(Lines):
        def advance(self, n: int) -> None:
            super().advance(n)
            stop.set()  # as Ctrl-C does, once the first batch is counted

    def progress(total: int) -> Progress:
        assert total == len(stories)
        return StopAfterFirstBatch(total, out, every_s=0.0)

    req = ReplayRequest(topic=s.topics.classified, since=since, rules_path=rules_dir / "live.yaml", batch=300)
    report = await run_replay(s, req, stop, progress)
    assert report["partial"] is True
    assert 0 < report["records_read"] < len(stories) and report["items"] == report["records_read"]
    assert f"/{len(stories)} records" in out.getvalue() and "ETA" in out.getvalue()


async def test_an_exported_corpus_replays_to_the_same_report_without_a_broker(
    live_week: tuple[Settings, list[Story], datetime, Path], tmp_path: Path
) -> None:
    s, stories, since, rules_dir = live_week
    req = ReplayRequest(topic=s.topics.classified, since=since, rules_path=rules_dir / "new.yaml",
                        thresholds={"cross_border_incident": 0.7})  # fmt: skip
    from_topic = await run_replay(s, req)
    path = tmp_path / "week.jsonl.gz"
    assert await export(s, req, path, asyncio.Event()) == len(stories)
    offline = s.model_copy(update={"kafka": KafkaSettings(bootstrap="127.0.0.1:1")})
    from_file = await run_replay(offline, replace(req, topic="", from_file=path))
    assert from_file["diff"]["added"] > 0
    assert without_run(from_file) == without_run(from_topic)


async def test_replay_of_explicit_offsets_writes_its_outputs_under_its_run_id(
    live_week: tuple[Settings, list[Story], datetime, Path],
) -> None:
    s, _, _, rules_dir = live_week
    bootstrap = s.kafka.bootstrap_servers
    offsets_before = await committed_offsets(bootstrap, s.alerts.matcher_group_id, s.topics.classified)
    live_before, groups_before = await live_ends(s), await groups(s)
    ends = live_before[s.topics.classified]
    asked = ((0, 100, ends[0] - 50), (1, 0, None))
    req = ReplayRequest(topic=s.topics.classified, since=datetime.fromtimestamp(0, UTC),
                        rules_path=rules_dir / "live.yaml", offsets=asked, output_topics=True)  # fmt: skip
    report = await run_replay(s, req)
    assert report["records_read"] == report["items"] == ends[0] - 150 + ends[1]
    out, run_id = report["run"]["outputs"], report["run"]["id"]
    assert (out["classified"], out["alerts"]) == (f"replay.{run_id}.classified", f"replay.{run_id}.alerts")
    assert out["written"] == {"classified": report["items"], "alerts": report["alerts"]["total"]}
    items = [decode(ClassifiedItem, r.value) for r in await read_topic(bootstrap, out["classified"],
                                                                      expect=report["items"])]  # fmt: skip
    alerts = [decode(Alert, r.value) for r in await read_topic(bootstrap, out["alerts"],
                                                               expect=report["alerts"]["total"])]  # fmt: skip
    assert len(items) == report["items"] and len(alerts) == report["alerts"]["total"] > 0
    assert Counter(a.rule_id for a in alerts) == report["alerts"]["by_rule"]
    replayed = [Story(datetime.now(UTC), c) for c in items]
    assert {(a.rule_id, a.item.item.id) for a in alerts} == expected_alerts(replayed, 0.5, 0.6, german=False)
    assert f"replay run {run_id}" in summary(report) and out["alerts"] in summary(report)

    assert await live_ends(s) == live_before and await groups(s) == groups_before
    assert await committed_offsets(bootstrap, s.alerts.matcher_group_id, s.topics.classified) == offsets_before


def test_explicit_offsets_are_checked_before_a_replay_starts() -> None:
    none: dict[str, Any] = {"partitions": (), "sources": (), "feeds": (), "langs": ()}
    for since, offsets, message in (
        (None, "0:9-3", "the end must lie after the start"),
        (None, "0:1-5,x", "give PARTITION:START-END"),
        (None, "0:1-5,0:7-", "names partition 0 twice"),
        ("7d", "0:1-5", "without --since"),
        (None, None, "give --since or --offsets"),
    ):
        with pytest.raises(ReplayInputError, match=message):
            build_request(Settings(), None, since, None, **none, offsets=offsets)
    req = build_request(Settings(), None, None, None, **none, offsets="0:1-5,2:7-")
    assert req.offsets == ((0, 1, 5), (2, 7, None))


# What the report's test reads off the page as Chromium laid it out: every chart drawn with marks of real size.
REPORT_FACTS = """() => ({
  charts: [...document.querySelectorAll("figure > svg")].map(svg => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll("rect, polyline")].map(m => m.getBBox());
    return {width: box.width, height: box.height, drawn: marks.filter(b => b.width > 0 || b.height > 0).length};
  }),
  tables: [...document.querySelectorAll("table")].map(t => ({rows: t.rows.length, height: t.offsetHeight})),
  headings: [...document.querySelectorAll("h2")].map(h => h.textContent),
  cells: [...document.querySelectorAll("td")].map(td => td.textContent),
})"""


async def test_replay_report_renders_in_headless_chromium_with_nothing_fetched(
    live_week: tuple[Settings, list[Story], datetime, Path], tmp_path: Path
) -> None:
    s, stories, since, rules_dir = live_week
    req = ReplayRequest(topic=s.topics.classified, since=since, rules_path=rules_dir / "new.yaml")
    assert await export(s, req, tmp_path / "week.jsonl.gz", asyncio.Event()) == len(stories)
    hand_labels(stories, tmp_path / "labels.jsonl")
    (tmp_path / "settings.yaml").write_text("kafka:\n  bootstrap: 127.0.0.1:1\n")
    corpus, settings = tmp_path / "week.jsonl.gz", tmp_path / "settings.yaml"
    done = newsmon("--settings", str(settings), "replay", "--from-file", str(corpus), "--since", since.isoformat(),
                   "--rules", str(rules_dir / "new.yaml"), "--threshold", "cross_border_incident=0.7",
                   "--labels", str(tmp_path / "labels.jsonl"), "--json",
                   "--report", str(tmp_path / "report.html"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    page = await render_in_chromium((tmp_path / "report.html").as_uri(), measure=REPORT_FACTS)
    assert page.errors == [] and page.requests == []
    facts = page.measured
    charts = 2 + len(report["alerts"]["per_hour"]) + 2  # score histograms, alerts per hour, precision-recall curves
    assert len(facts["charts"]) == charts
    assert all(c["width"] >= 300 and c["height"] >= 100 and c["drawn"] >= 1 for c in facts["charts"]), facts["charts"]
    assert facts["headings"][:4] == ["Labels", "Alerts per rule", "Against live",
                                     f"Against {report['metrics']['labelled_replayed']} labelled items"]  # fmt: skip
    assert all(t["rows"] >= 2 and t["height"] > 20 for t in facts["tables"]), facts["tables"]
    assert report["diff"]["examples"]["added"][0]["title"] in facts["cells"]


def test_command_line_refuses_bad_input_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(LIVE_RULES.replace("election: 0.6", "election: 1.6"))
    settings = tmp_path / "settings.yaml"
    settings.write_text("kafka:\n  bootstrap: 127.0.0.1:1\n")
    done = newsmon("--settings", str(settings), "replay", "--since", "7d", "--rules", str(bad))
    assert done.returncode == 2, done.stderr
    assert "invalid rules file" in done.stderr and f"{bad}:9" in done.stderr
    done = newsmon("--settings", str(settings), "replay", "--since", "last week", "--rules", str(bad))
    assert done.returncode == 2 and "neither a relative time" in done.stderr
    done = newsmon("--settings", str(settings), "replay", "--offsets", "0:9-3")
    assert done.returncode == 2 and "the end must lie after the start" in done.stderr


HEADLINES = (
    ("Russian drone crashes in Polish territory after crossing the border", "Warsaw summoned the envoy."),
    ("Border guards exchange fire on the Armenia-Azerbaijan frontier", "Two soldiers were wounded in the shelling."),
    ("Polls close in Georgia's parliamentary election", "Turnout was higher than four years ago."),
    ("Election commission counts votes after Moldova's presidential runoff", "Observers reported few irregularities."),
    ("Central bank keeps interest rates unchanged", "Inflation eased for a third month."),
    ("Football club signs a new striker before the derby", "The fee was not disclosed."),
)


def raw_week(end: datetime, n: int = 240) -> list[tuple[datetime, RawItem]]:
    out = []
    for i in range(n):
        title, summary = HEADLINES[i % len(HEADLINES)]
        at = end - WEEK + i * (WEEK / n)
        it = RawItem(id=f"raw-{i}", feed_id=f"feed-{i % 4}", feed_url="https://wire.example/rss", source="Wire",
                     url=f"https://wire.example/{i}", title=f"{title} ({i})", summary=summary, published=at,
                     fetched_at=at, content_hash=f"{i:016x}", lang="en")  # fmt: skip
        out.append((at, it))
    return out


async def test_replay_of_news_raw_reclassifies_as_the_classify_stage_did(
    settings: Settings, model: NewsClassifier, models_dir: Path, tmp_path: Path
) -> None:
    prefix = settings.topics.raw.split(".", 1)[0]
    cs = ClassifierSettings(model_dir=models_dir, model_version=model.version, group_id=f"{prefix}-clf", workers=1)
    s = fast(settings).model_copy(update={"classifier": cs})
    end = datetime.now(UTC) - timedelta(hours=1)
    items = raw_week(end)
    producer = make_producer(s.kafka)
    await producer.start()
    try:
        for at, it in items:
            await producer.send(s.topics.raw, encode(it), key=it.id.encode(), timestamp_ms=int(at.timestamp() * 1000))
        await producer.flush()
    finally:
        await producer.stop()
    (tmp_path / "live.yaml").write_text(LIVE_RULES)
    stop = asyncio.Event()
    classify = asyncio.create_task(run_classifier(s, stop, model))
    async with alerting(s, load_rules(tmp_path / "live.yaml"), delivery=False):
        bootstrap = s.kafka.bootstrap_servers
        assert await wait_until(lambda: group_caught_up(bootstrap, cs.group_id, s.topics.raw), 60)
        assert await wait_until(lambda: group_caught_up(bootstrap, s.alerts.matcher_group_id, s.topics.classified), 60)
    stop.set()
    await classify

    since = end - WEEK - timedelta(minutes=1)
    req = ReplayRequest(topic=s.topics.raw, since=since, rules_path=tmp_path / "live.yaml")
    same = await run_replay(s, req)
    scores = [p.scores for p in model.predict_texts([model_text(it.title, it.summary) for _, it in items])]
    live = {("incidents", it.id) for (_, it), sc in zip(items, scores, strict=True)
            if sc["cross_border_incident"] >= model.thresholds["cross_border_incident"]}  # fmt: skip
    live |= {("elections", it.id) for (_, it), sc in zip(items, scores, strict=True) if sc["election"] >= 0.6}
    assert same["request"]["model"] == model.version and same["items"] == len(items)
    assert same["alerts"]["total"] == len(live) > 0
    assert same["diff"] | {"examples": None} == {"live_alerts": len(live), "unchanged": len(live), "added": 0,
                                                 "removed": 0, "label_changes": 0, "examples": None}  # fmt: skip

    stricter = await run_replay(s, ReplayRequest(topic=s.topics.raw, since=since, rules_path=tmp_path / "live.yaml",
                                                 thresholds={"cross_border_incident": 0.99}))  # fmt: skip
    dropped = {i for r, i in live if r == "incidents"} - {
        it.id for (_, it), sc in zip(items, scores, strict=True) if sc["cross_border_incident"] >= 0.99
    }
    assert dropped and (stricter["diff"]["removed"], stricter["diff"]["added"]) == (len(dropped), 0)
    assert stricter["diff"]["label_changes"] == len(dropped)

    # Scored across two worker processes, the same replay gives the same report.
    req = ReplayRequest(topic=s.topics.raw, since=since, rules_path=tmp_path / "live.yaml",
                        thresholds={"cross_border_incident": 0.99})  # fmt: skip
    again = await run_replay(workers(s, 2), req)
    assert without_run(again) == without_run(stricter) and again["run"]["workers"] == 2
