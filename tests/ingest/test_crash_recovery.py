"""A poller killed with SIGKILL mid-poll loses nothing its feeds still list: the next run produces it."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import yaml

from monitor.messages import RawItem, decode
from monitor.settings import Settings
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic

REPO = Path(__file__).resolve().parents[2]


def write_config(settings: Settings, tmp_path: Path, feed_urls: list[str]) -> Path:
    cfg = {
        "topics": settings.topics.model_dump(),
        "ingest": {"default_interval_s": 0.3, "min_interval_s": 0.2, "max_backoff_s": 1.0,
                   "feeds_file": str(tmp_path / "feeds.yaml"), "allow_private_addresses": True},
        "log": {"format": "json"},
    }  # fmt: skip
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(cfg))
    feeds = {"feeds": [{"id": f"f{n}", "url": u} for n, u in enumerate(feed_urls)]}
    (tmp_path / "feeds.yaml").write_text(yaml.safe_dump(feeds))
    return path


def _open_log(tmp_path: Path) -> BinaryIO:
    return (tmp_path / "service.log").open("ab")


def _open_log(tmp_path: Path) -> BinaryIO:
    return (tmp_path / "service.log").open("ab")


async def start_service(settings: Settings, config: Path, tmp_path: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env["NEWSMON_KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap_servers
    log = _open_log(tmp_path)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "--settings", str(config), "run",
        cwd=REPO, env=env, stdout=log, stderr=log,
    )  # fmt: skip


async def raw_titles(settings: Settings) -> list[str]:
    recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, idle_s=0.5)
    return [decode(RawItem, r.value).title for r in recs]


async def test_sigkill_during_polling_loses_no_listed_item(
    settings: Settings, feed_server: FeedServer, tmp_path: Path
) -> None:
    rng = random.Random(7)
    listed: dict[int, list[tuple[str, str, str]]] = {}
    urls = []
    for f in range(12):
        listed[f] = [(f"f{f}-{i}", f"Feed {f} story {i}", "Body.") for i in range(25)]
        urls.append(feed_server.set(f"/f{f}.xml", rss(listed[f]), delay_s=rng.uniform(0.0, 0.4)))
    config = write_config(settings, tmp_path, urls)

    kills = 0
    for round_ in range(3):
        proc = await start_service(settings, config, tmp_path)
        before = len(await raw_titles(settings))
        # Kill as soon as this run has produced something, i.e. while polls are in flight.
        for _ in range(200):
            await asyncio.sleep(0.1)
            if len(await raw_titles(settings)) > before or proc.returncode is not None:
                break
        assert proc.returncode is None, (tmp_path / "service.log").read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        kills += 1
        # Feeds move on while the poller is dead: new stories appear, the oldest drop off.
        for f in rng.sample(range(12), 4):
            n = len(listed[f]) + round_
            listed[f] = [*listed[f][3:], *[(f"f{f}-n{round_}-{k}", f"Feed {f} new story {round_}-{k}", "B.")
                                            for k in range(3 + n % 2)]]  # fmt: skip
            feed_server.set(f"/f{f}.xml", rss(listed[f]), delay_s=rng.uniform(0.0, 0.4))

    expected = {t for items in listed.values() for _, t, _ in items}
    proc = await start_service(settings, config, tmp_path)
    try:
        for _ in range(300):
            await asyncio.sleep(0.2)
            if expected <= set(await raw_titles(settings)):
                break
        got = await raw_titles(settings)
        missing = expected - set(got)
        assert not missing, f"{len(missing)} listed items never reached news.raw, e.g. {sorted(missing)[:5]}"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 60)
    assert kills == 3
    assert rc == 0, "SIGTERM must stop the service cleanly"
