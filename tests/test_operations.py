"""Operating the whole pipeline in one service on the real broker: readiness, health and every stage's metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classifiers.model import NewsClassifier
from monitor.broker.local import free_port
from monitor.ingest.feeds import FeedConfig
from monitor.ops.readiness import Readiness
from monitor.runner import build_stages
from monitor.service import run_service
from monitor.settings import ClassifierSettings, MetricsSettings, Settings
from tests.support.alerts import fast, webhook_rules
from tests.support.feeds import FeedServer, rss
from tests.support.receivers import Receiver

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
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(settings, build_stages(settings, feeds, STAGES, readiness), stop, readiness))
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


async def test_readyz_holds_only_once_every_stage_and_the_scoring_workers_are_up(
    settings: Settings, models_dir: Path, model: NewsClassifier, feed_server: FeedServer, receiver: Receiver,
    tmp_path: Path,
) -> None:  # fmt: skip
    s = service_settings(settings, models_dir, model.version, tmp_path, receiver.url)
    feeds = [FeedConfig(id="wire", url=feed_server.set("/wire.xml", rss([])), name="Wire", interval_s=0.2)]
    async with service(s, feeds) as svc:
        ready = await wait_ready(svc)
        assert await svc.get("/healthz") == (200, '{"alive": true}')
    assert set(ready["checks"]) == CHECKS and ready["ready"] is True
    assert "2 scoring workers" in ready["checks"]["classify.model"]["detail"]
    assert svc.answers[0][0] == 503, "ready at once, before any stage started"
    # Some answers came while the scoring workers were still loading the model: those were not ready.
    loading = [body for status, body in svc.answers if body["checks"].get("classify.model", {}).get("ok") is False]
    assert loading and all(not body["ready"] for body in loading)
    assert all(status == 503 for status, body in svc.answers[:-1])
    # Stopped, the service answers no more.
    assert await svc.readyz() is None
