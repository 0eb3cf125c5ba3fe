"""Shared fixtures: one real Kafka broker for the session, per-test topics, a local feed server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from classifiers.model import NewsClassifier
from monitor.broker.local import LocalBroker, free_port
from monitor.settings import IngestSettings, KafkaSettings, Settings, TopicSettings
from monitor.topics import ensure_topics, topic_specs
from tests.support.feeds import FeedServer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--outage-s", type=float, default=5.0, help="webhook outage in the fault-tolerance suite (s)")
    parser.addoption(
        "--burst-feeds", type=int, default=200, help="feeds changing at once, 10 items each, in the burst scenario"
    )


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker | None]:
    """The project's own broker in a fresh data directory on free ports (None when an external one is given)."""
    if os.environ.get("NEWSMON_TEST_KAFKA_BOOTSTRAP"):
        yield None
        return
    ks = KafkaSettings(port=free_port(), controller_port=free_port(), dist_dir=REPO / ".cache" / "kafka")
    b = LocalBroker(ks, tmp_path_factory.mktemp("kafka"))
    b.start()
    try:
        asyncio.run(b.wait_ready())
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(broker: LocalBroker | None) -> str:
    return os.environ.get("NEWSMON_TEST_KAFKA_BOOTSTRAP") or broker.bootstrap  # type: ignore[union-attr]


def make_settings(bootstrap: str, tmp_path: Path, **ingest: object) -> Settings:
    """Settings with topic names unique to one test, so tests never see each other's messages."""
    p = f"t{uuid.uuid4().hex[:10]}"
    topics = TopicSettings(
        raw=f"{p}.news.raw",
        classified=f"{p}.news.classified",
        alerts=f"{p}.news.alerts",
        shadow=f"{p}.news.shadow",
        deliveries=f"{p}.news.deliveries",
        dead_letter=f"{p}.news.dlq",
        feed_state=f"{p}.feed-state",
        alert_state=f"{p}.alert-state",
        feed_registry=f"{p}.feed-registry",
        stories=f"{p}.news.stories",
        storied=f"{p}.news.storied",
        partitions=2,
    )
    ing = {"feeds_file": tmp_path / "feeds.yaml", "min_interval_s": 0.2, "default_interval_s": 0.5,
           "max_backoff_s": 2.0, "total_timeout_s": 5.0, "read_timeout_s": 3.0, "connect_timeout_s": 2.0,
           "group_id": f"{p}.pollers",
           # Test feeds are served on the loopback interface.
           "allow_private_addresses": True}  # fmt: skip
    ing.update(ingest)
    return Settings(
        kafka=KafkaSettings(bootstrap=bootstrap),
        topics=topics,
        ingest=IngestSettings.model_validate(ing),
    )


@pytest.fixture
async def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    s = make_settings(kafka_bootstrap, tmp_path)
    await ensure_topics(s.kafka, topic_specs(s.topics), 1)
    return s


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the classifier for the current data and code lives: where `make model` put it, else trained here."""
    from classifiers.train import is_current, train

    if is_current(REPO / "models"):
        return REPO / "models"
    target = tmp_path_factory.mktemp("models")
    train(models_dir=target)
    return target


@pytest.fixture(scope="session")
def model(models_dir: Path) -> NewsClassifier:
    from classifiers.train import is_current

    version = is_current(models_dir)
    assert version is not None
    return NewsClassifier.load(models_dir, version)


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
