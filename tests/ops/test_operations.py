"""Operating the whole pipeline in one service on the real broker: readiness, health and every stage's metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from classifiers.model import NewsClassifier
from monitor.broker.local import free_port
from monitor.ingest.feeds import FeedConfig
from monitor.messages import Alert, decode
from monitor.ops.kafka import KafkaWatch
from monitor.ops.readiness import Readiness
from monitor.ops.status import StatusBoard
from monitor.settings import ClassifierSettings, KafkaSettings, MetricsSettings, Settings
from monitor.shell.child import ChildFailed
from monitor.shell.runner import build_stages
from monitor.shell.service import run_service
from monitor.stream.clients import make_producer
from tests.support.alerts import alerting_caught_up, fast, webhook_rules
from tests.support.browser import chromium_path, render
from tests.support.environment import need, required
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import group_caught_up, read_topic
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for, wait_until

REPO = Path(__file__).resolve().parents[2]

STAGES = ["ingest", "classify", "alert", "deliver"]
CHECKS = {"service", "kafka", "ingest.registry", "classify.model", "classify.partitions", "alert.rules",
          "alert.partitions", "deliver.sinks", "deliver.partitions"}  # fmt: skip


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


Labels = frozenset[tuple[str, str]]
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


@dataclass
class Metrics:
    """One scrape of `/metrics`: every sample's value by name and labels."""

    samples: dict[tuple[str, Labels], float]
    exported: set[str]  # every name a query may use, also of families with no sample yet

    @classmethod
    def parse(cls, text: str) -> Metrics:
        families = list(text_string_to_metric_families(text))
        samples = {(x.name, frozenset(x.labels.items())): x.value for f in families for x in f.samples}
        exported = {n for n, _ in samples}
        for f in families:
            exported |= {f.name + suffix for suffix in SAMPLE_SUFFIXES.get(f.type, ("",))}
        return cls(samples, exported)

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def of(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}


@dataclass
class Service:
    """The service with every stage running in a task of this process, and its operations endpoints."""

    settings: Settings
    url: str
    task: asyncio.Task[None]
    stop: asyncio.Event
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}{path}") as resp:
            return resp.status, await resp.text()

    async def metrics(self) -> Metrics:
        status, text = await self.get("/metrics")
        assert status == 200
        return Metrics.parse(text)

    async def readyz(self) -> tuple[int, dict[str, Any]] | None:
        """The readiness answer, or None while nothing listens yet."""
        try:
            async with aiohttp.ClientSession() as session, session.get(f"{self.url}/readyz") as resp:
                answer = resp.status, await resp.json()
        except aiohttp.ClientConnectionError:
            return None
        self.answers.append(answer)
        return answer


def service_settings(settings: Settings, models_dir: Path, version: str, tmp_path: Path, hook: str) -> Settings:
    s = fast(settings)
    webhook_rules(tmp_path, {"hook": hook})
    group = settings.topics.raw.split(".", 1)[0] + "-classify"
    classifier = ClassifierSettings(model_dir=models_dir, model_version=version, workers=2, group_id=group)
    alerts = s.alerts.model_copy(update={"rules_file": tmp_path / "rules.yaml"})
    metrics = MetricsSettings(port=free_port(), probe_interval_s=0.5, lag_interval_s=0.3)
    return s.model_copy(update={"classifier": classifier, "alerts": alerts, "metrics": metrics})


@contextlib.asynccontextmanager
async def service(settings: Settings, feeds: list[FeedConfig]) -> AsyncIterator[Service]:
    readiness = Readiness()
    status = StatusBoard(readiness)
    stop = asyncio.Event()
    stages = build_stages(settings, feeds, STAGES, readiness, status)
    task = asyncio.create_task(run_service(settings, stages, stop, readiness, status))
    svc = Service(settings, f"http://127.0.0.1:{settings.metrics.port}", task, stop)
    try:
        yield svc
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def wait_ready(svc: Service, timeout_s: float = 120.0) -> dict[str, Any]:
    """Ask `/readyz` every 50 ms until it answers 200; return that answer's body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline and not svc.task.done():
        answer = await svc.readyz()
        if answer is not None and answer[0] == 200:
            return answer[1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"never ready: {svc.answers[-1:]}, service done: {svc.task.done()}")


STORIES = [
    ("s0", "Drone from Belarus crosses into Lithuanian airspace, army says", "Jets were scrambled."),
    ("s1", "Anti-Putin rebels claim control of Russian border village amid elections",
     "Fighters from Ukraine say they seized Gorkovsky in Belgorod region as Russians vote."),
    ("s2", "Artillery shells from Azerbaijan hit Armenian border villages", "Two soldiers were wounded."),
    *[(f"s{i}", f"Council approves new cycle lane number {i}", "Work starts in May.") for i in range(3, 8)],
    # Escaped once in the feed, so the title itself is markup: the status page must show it as text.
    ("s8", 'Shelling from Russia hits Ukrainian border town &lt;img src=x onerror="console.error(1)"&gt;'
     "&lt;/td&gt;&lt;/table&gt;&lt;h2&gt;forged&lt;/h2&gt;", "Three people were wounded by shells fired across."),
]  # fmt: skip
# What the status page's test reads off the rendered page.
PAGE_FACTS = """() => ({
  sections: [...document.querySelectorAll("body > section")].map(s => s.id),
  rows: Object.fromEntries([...document.querySelectorAll("table")].map(t => [t.className, t.tBodies[0].rows.length])),
  shown: [...document.querySelectorAll("table")].every(t => t.getBoundingClientRect().height > 20),
  headings: [...document.querySelectorAll("h2")].map(h => h.textContent),
  elements: document.querySelectorAll("img, script, iframe, [onerror]").length,
  stories: [...document.querySelectorAll("table.alerts tbody td:nth-child(4) a")].map(a => a.textContent),
  cells: [...document.querySelectorAll("table tbody tr")].map(r => [...r.cells].map(c => c.textContent)),
})"""


async def pipeline_done(s: Settings) -> bool:
    bootstrap = s.kafka.bootstrap_servers
    classified = await group_caught_up(bootstrap, s.classifier.group_id, s.topics.raw)
    return classified and await alerting_caught_up(s)


def assert_ready_only_once_up(svc: Service, ready: dict[str, Any]) -> None:
    """The service said ready only once every stage was up, the scoring workers with their model included."""
    assert set(ready["checks"]) == CHECKS and ready["ready"] is True
    assert "2 scoring workers" in ready["checks"]["classify.model"]["detail"]
    assert svc.answers[0][0] == 503, "ready at once, before any stage started"
    # Some answers came while the scoring workers were still loading the model: those were not ready.
    loading = [body for status, body in svc.answers if body["checks"].get("classify.model", {}).get("ok") is False]
    assert loading and all(not body["ready"] for body in loading)
    assert all(status == 503 for status, body in svc.answers[:-1])


async def test_ready_only_when_every_stage_is_up_and_every_stage_counts_exactly_what_it_processed(
    settings: Settings, models_dir: Path, model: NewsClassifier, feed_server: FeedServer, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    s = service_settings(settings, models_dir, model.version, tmp_path, receiver.url)
    feeds = [FeedConfig(id="wire", url=feed_server.set("/wire.xml", rss([])), name="Wire", interval_s=0.2),
             FeedConfig(id="down", url=feed_server.set("/down.xml", b"", status=503), interval_s=0.2)]  # fmt: skip
    async with service(s, feeds) as svc:
        started = time.monotonic()
        assert_ready_only_once_up(svc, await wait_ready(svc))
        print(f"\nready {time.monotonic() - started:.1f}s after start, {len(svc.answers)} answers to /readyz")
        assert await svc.get("/healthz") == (200, '{"alive": true}')
        # A feed's first poll lists its backlog, which never alerts: publish the stories after that poll.
        assert await wait_for(lambda: feed_server.hits.get("/wire.xml", 0) >= 1, timeout_s=30)
        before = await svc.metrics()
        feed_server.set("/wire.xml", rss(STORIES))
        producer = make_producer(s.kafka)
        await producer.start()
        try:
            await producer.send_and_wait(s.topics.raw, b"{broken", key=b"bad-1")
        finally:
            await producer.stop()
        assert await wait_until(lambda: pipeline_done(s), timeout_s=90)
        alerts = [decode(Alert, r.value) for r in await read_topic(s.kafka.bootstrap_servers, s.topics.alerts)]
        assert alerts and set(receiver.accepted) == {a.event_id for a in alerts}

        async def lag_measured_at_zero() -> bool:
            lags = (await svc.metrics()).of("newsmon_consumer_lag")
            stages = {dict(labels)["stage"] for labels in lags}
            return stages == {"classify", "alert", "deliver"} and not any(lags.values())

        # Every stage's partitions are measured, and nothing is left behind in any of them.
        assert await wait_until(lag_measured_at_zero, timeout_s=10)
        after = await svc.metrics()
        # Without a browser (outside CI) the rest of this test still runs; it is reported as skipped at the end.
        page = await render(f"{svc.url}/", measure=PAGE_FACTS) if chromium_path() or required() else None
    if page is not None:
        assert_status_page_shows(page.measured, alerts)
        assert page.errors == [] and page.requests == []

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    n, a = len(STORIES), len(alerts)
    counts = {
        "ingest out": moved("newsmon_stage_items_out_total", stage="ingest"),
        "classify in": moved("newsmon_stage_items_in_total", stage="classify"),
        "classify out": moved("newsmon_stage_items_out_total", stage="classify"),
        "classify dead letters": moved("newsmon_dead_letters_total", stage="classify", reason="bad_input"),
        "classify bad input": moved("newsmon_stage_errors_total", stage="classify", error_class="bad_input"),
        "classified in batches": moved("newsmon_classify_batch_items_sum"),
        "alert in": moved("newsmon_stage_items_in_total", stage="alert"),
        "alert out": moved("newsmon_stage_items_out_total", stage="alert"),
        "alerts immediate": moved("newsmon_alerts_total", rule="incidents", mode="immediate"),
        "deliver in": moved("newsmon_stage_items_in_total", stage="deliver"),
        "deliver out": moved("newsmon_stage_items_out_total", stage="deliver"),
        "delivered": moved("newsmon_deliveries_total", sink="hook", outcome="delivered"),
        "final attempts": moved("newsmon_delivery_attempts_count", sink="hook"),
        "publish to delivered": moved("newsmon_publish_to_delivered_seconds_count", sink="hook"),
    }
    assert counts == {
        "ingest out": n, "classify in": n + 1, "classify out": n, "classify dead letters": 1,
        "classify bad input": 1, "classified in batches": n, "alert in": n, "alert out": a, "alerts immediate": a,
        "deliver in": a, "deliver out": a, "delivered": a, "final attempts": a, "publish to delivered": a,
    }  # fmt: skip
    assert moved("newsmon_classify_batch_seconds_count") >= 1
    # Stories were fetched moments ago, so every alert arrived well within the histogram's first buckets.
    assert moved("newsmon_fetch_to_delivered_seconds_bucket", sink="hook", le="30.0") == a
    assert after.value("newsmon_sink_circuit_state", sink="hook", state="closed") == 1
    assert after.value("newsmon_kafka_up") == 1
    # Stopped, the service answers no more.
    assert await svc.readyz() is None
    assert_deploy_files_query_only(after.exported)
    need(page is not None, "the status page was not rendered: Chromium is not installed (`make system-deps`)")


def assert_status_page_shows(facts: dict[str, Any], alerts: list[Alert]) -> None:
    """The status page, as Chromium rendered it, shows every section, filled, and the hostile title only as text."""
    assert facts["sections"] == ["readiness", "feeds", "lag", "alerts", "dead-letters"]
    assert facts["headings"] == ["Readiness", "Feeds", "Stage lag", "Last alerts", "Dead letters"]
    rows = facts["rows"]
    assert rows["feeds"] == 2 and rows["alerts"] == len(alerts) and rows[""] == len(CHECKS), rows
    assert rows["lag"] >= 6 and rows["dead-letters"] >= 1 and facts["shown"], rows
    cells = facts["cells"]
    # Feeds by health, the failing one first with its last error.
    feeds = [c for c in cells if c[0] in ("down", "wire") and len(c) == 7]
    assert [c[:2] for c in feeds] == [["down", "failing"], ["wire", "healthy"]], feeds
    assert int(feeds[0][2]) >= 1 and "503" in feeds[0][3] and feeds[1][3] == "", feeds
    assert {c[0] for c in cells if len(c) == 4 and c[3] == "0"} >= {"classify", "alert", "deliver"}
    assert ["classify", "bad_input"] in [c[:2] for c in cells if len(c) == 3]
    assert sorted(facts["stories"]) == sorted(a.item.item.title for a in alerts)
    hostile = [t for t in facts["stories"] if "onerror" in t]
    assert hostile == ['Shelling from Russia hits Ukrainian border town <img src=x onerror="console.error(1)">'
                       "</td></table><h2>forged</h2>"], facts["stories"]  # fmt: skip
    assert facts["elements"] == 0


DASHBOARD = REPO / "deploy" / "grafana" / "newsmon.json"
ALERT_RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
# Prometheus' own series for every scrape target, which the alerting rules may use beside newsmon's.
PROMETHEUS_SERIES = {"up"}


async def test_an_ingest_process_that_dies_stops_the_service(
    settings: Settings, models_dir: Path, model: NewsClassifier, feed_server: FeedServer, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    s = service_settings(settings, models_dir, model.version, tmp_path, receiver.url)
    feeds = [FeedConfig(id="wire", url=feed_server.set("/wire.xml", rss([])), interval_s=0.2)]
    with capture_logs() as logs, pytest.raises(ChildFailed, match="exited with code -9"):
        async with service(s, feeds) as svc:
            await wait_ready(svc)
            pid = next(e["pid"] for e in logs if e["event"] == "ingest.process_started")
            os.kill(pid, signal.SIGKILL)
            assert await wait_for(svc.task.done, timeout_s=30)
    assert any(e["event"] == "stage.failed" and e["stage"] == "ingest" for e in logs)


async def test_the_service_is_not_ready_before_its_stages_registered_their_checks(settings: Settings) -> None:
    """`service` goes up once the stages ran to their first await, where they register their own checks."""
    readiness, stop, seen = Readiness(), asyncio.Event(), []

    async def stage(ev: asyncio.Event) -> None:
        check = readiness.require("stage.own")
        await ev.wait()
        check.down("stopped")

    async def probe() -> None:
        while not stop.is_set():
            seen.append((readiness.require("service").ok, "stage.own" in readiness.report()["checks"]))
            await asyncio.sleep(0)

    s = settings.model_copy(update={"metrics": MetricsSettings(port=0)})
    probing = asyncio.create_task(probe())
    task = asyncio.create_task(run_service(s, {"stage": stage}, stop, readiness))
    assert await wait_for(lambda: readiness.require("service").ok, timeout_s=30)
    stop.set()
    await asyncio.wait_for(task, 30)
    await probing
    assert all(registered for up, registered in seen if up), "service up before the stage registered its check"


# PromQL words that look like metric names once label lists, strings and ranges are gone.
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (what is left once functions, labels and ranges are removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = re.findall(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", expr)
    return set(names) - PROMQL_WORDS


def deploy_expressions() -> dict[str, str]:
    """Every PromQL expression of the Grafana dashboard and the alerting rules, by where it is."""
    dashboard = json.loads(DASHBOARD.read_text())
    out = {f"panel {p['title']!r} {t['refId']}": t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])}
    rules = yaml.safe_load(ALERT_RULES.read_text())
    out |= {f"rule {r['alert']}": r["expr"] for g in rules["groups"] for r in g["rules"]}
    return out


def assert_deploy_files_query_only(exported: set[str]) -> None:
    """The dashboard and the alerting rules use only names a running service exports."""
    expressions = deploy_expressions()
    assert len(expressions) > 30
    used = {where: promql_metric_names(expr) for where, expr in expressions.items()}
    assert all(used.values()), [w for w, names in used.items() if not names]
    known = exported | PROMETHEUS_SERIES
    unknown = {where: sorted(names - known) for where, names in used.items() if names - known}
    assert not unknown, unknown


def test_metric_names_are_found_in_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, sink) (rate(newsmon_x_bucket{sink=~"a|b"}[5m]))) '
        "/ on (sink) group_left max without (state) (newsmon_y) and newsmon_z offset 5m > bool 0"
    )
    assert promql_metric_names(expr) == {"newsmon_x_bucket", "newsmon_y", "newsmon_z"}


class Proxy:
    """A TCP relay to the broker's bootstrap address that the test can cut and restore: an outage seen by a probe."""

    def __init__(self, target: str) -> None:
        self._host, port = target.rsplit(":", 1)
        self._port = int(port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._links):
            w.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._links -= {writer, up_writer}
            writer.close()
            up_writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_kafka_outage_is_logged_once_with_its_duration_and_readiness_follows(kafka_bootstrap: str) -> None:
    proxy = Proxy(kafka_bootstrap)
    await proxy.open()
    check = Readiness().require("kafka")
    watch = KafkaWatch(KafkaSettings(bootstrap=proxy.address), check, interval_s=0.1)
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(watch.run(stop))
        try:
            assert await wait_for(lambda: check.ok)
            await proxy.cut()
            cut_at = time.monotonic()
            assert await wait_for(lambda: not check.ok)
            probes = watch.probes
            assert await wait_for(lambda: watch.probes >= probes + 5), "the outage is probed again and again"
            await proxy.open()
            assert await wait_for(lambda: check.ok)
            outage_s = time.monotonic() - cut_at
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    events = [e for e in logs if e["event"].startswith("kafka.")]
    assert [e["event"] for e in events] == ["kafka.unavailable", "kafka.recovered"], events
    assert events[0]["at_start"] is False and proxy.address in events[0]["error"]
    assert 0 < events[1]["down_s"] <= outage_s


# Run in a child: logging is configured once per process, as `newsmon` does at start-up.
LIBRARY_LOGS = """
import asyncio, sys
from aiokafka.client import AIOKafkaClient
from monitor.logging import configure_logging
from monitor.settings import LogSettings

configure_logging(LogSettings(format="json", library_repeat_s=0.4))

async def main() -> None:
    for _ in range(40):
        client = AIOKafkaClient(bootstrap_servers=sys.argv[1])
        try:
            await client.bootstrap()
        except Exception:
            pass
        finally:
            await client.close()
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


def test_library_logs_come_out_as_json_warnings_rate_limited(tmp_path: Path) -> None:
    """aiokafka's connection errors, 40 of them in about two seconds, render as JSON lines and a handful at most."""
    proc = subprocess.run([sys.executable, "-c", LIBRARY_LOGS, f"127.0.0.1:{free_port()}"], capture_output=True,
                          text=True, cwd=REPO, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]  # every line is JSON
    unable = [x for x in lines if x["event"].startswith("Unable connect to")]
    assert unable and all(x["logger"].startswith("aiokafka") and x["level"] == "warning" for x in unable)
    assert all(x["retried_by_client"] is True and "timestamp" in x for x in unable)
    assert len(unable) <= 10, f"{len(unable)} lines for one unreachable broker"
    repeated = sum(x.get("repeated", 0) for x in unable)
    assert repeated > 0 and len(unable) + repeated <= 40


async def test_the_browser_reports_console_errors_exceptions_and_requests_leaving_the_page(tmp_path: Path) -> None:
    """The status page and replay report tests rely on these: a page that breaks must not pass as clean."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><p id="x">kept</p>'
                    '<img src="http://198.51.100.7/pixel.png"><script>console.error("from the page");'
                    "undefinedFunction();</script></body></html>")  # fmt: skip
    shown = await render(page.as_uri(), measure='document.getElementById("x").textContent')
    assert shown.measured == "kept" and '<p id="x">kept</p>' in shown.dom
    assert shown.requests == ["http://198.51.100.7/pixel.png"]
    assert any("from the page" in e for e in shown.errors), shown.errors
    assert any(e.startswith("uncaught:") and "undefinedFunction" in e for e in shown.errors), shown.errors
