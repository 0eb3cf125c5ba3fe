"""One shared pipeline of real stage processes for the fault scenarios, and the table they fill, printed at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.topics import ensure_topics, topic_specs
from tests.conftest import make_settings
from tests.support.alerts import SECRET
from tests.support.feeds import FeedServer
from tests.support.receivers import Receiver
from tests.system.farm import Farm
from tests.system.pipeline import STAGES, Pipeline, write_config
from tests.system.scoreboard import Scoreboard

BOARD = pytest.StashKey[Scoreboard]()
FEEDS = 20


@pytest.fixture(scope="session")
def outage_s(pytestconfig: pytest.Config) -> float:
    """How long the webhook receiver stays down (`--outage-s`; `make test-system` runs the full minute)."""
    return float(pytestconfig.getoption("outage_s"))


@pytest.fixture(scope="session")
def burst_feeds(pytestconfig: pytest.Config) -> int:
    """How many feeds change at once in the burst (`--burst-feeds`; `make test-system` runs 1,000)."""
    return int(pytestconfig.getoption("burst_feeds"))


@pytest.fixture(scope="session")
def scoreboard(pytestconfig: pytest.Config) -> Scoreboard:
    return pytestconfig.stash.setdefault(BOARD, Scoreboard())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    board = config.stash.get(BOARD, None)
    if board is not None and board.rows:
        terminalreporter.section("fault tolerance (counted at the webhook receiver)")
        for line in board.render():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
async def pipeline(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> AsyncIterator[Pipeline]:
    """Feed farm, signed-webhook receiver and one process per stage on topics of their own, running until the end."""
    tmp = tmp_path_factory.mktemp("system")
    settings = make_settings(kafka_bootstrap, tmp)
    await ensure_topics(settings.kafka, topic_specs(settings.topics), 1)
    server = FeedServer()
    await server.start()
    receiver = Receiver(secrets={"k2": SECRET}, delay_s=0.01)
    await receiver.start()
    farm = Farm(server, FEEDS)
    config = write_config(settings, tmp, receiver, farm.feed_urls(FEEDS), models_dir)
    pipe = Pipeline(settings, config, farm, receiver, tmp)
    try:
        for stage in STAGES:
            await pipe.start(stage)
        assert await pipe.running(), f"a stage did not start\n{pipe.tail()}"
        yield pipe
    finally:
        await pipe.shutdown()
        await receiver.stop()
        await server.stop()
