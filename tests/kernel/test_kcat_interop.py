"""Operators can read `news.raw` with any Kafka client: kcat gets keys and JSON that match the documented schema."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import jsonschema
import pytest

from monitor.ingest.feeds import FeedConfig
from monitor.ingest.stage import run_ingestion
from monitor.messages import RawItem
from monitor.settings import Settings
from tests.support.environment import need
from tests.support.feeds import FeedServer, rss
from tests.support.kafka import read_topic


@pytest.fixture(autouse=True)
def _kcat_installed() -> None:
    need(shutil.which("kcat") is not None, "kcat is not installed (Debian package kcat; `make system-deps`)")


async def test_kcat_reads_raw_items_as_documented_json(settings: Settings, feed_server: FeedServer) -> None:
    url = feed_server.set("/k.xml", rss([("k1", "Border guards detain fishermen", "Two boats were held."),
                                         ("k2", "Run-off set for June", "Nobody cleared 50%.")]))  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingestion(settings, [FeedConfig(id="k", url=url, interval_s=0.3)], stop))
    await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=2)
    stop.set()
    await task

    proc = await asyncio.to_thread(
        subprocess.run,
        ["kcat", "-C", "-b", settings.kafka.bootstrap_servers, "-t", settings.topics.raw, "-o", "beginning",
         "-e", "-q", "-f", "%k\t%s\n"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 2
    schema = RawItem.model_json_schema(mode="serialization")
    titles = set()
    for line in lines:
        key, value = line.split("\t", 1)
        doc = json.loads(value)
        jsonschema.validate(doc, schema)
        assert doc["schema_version"] == 2 and doc["tier"] == "outlet"
        assert key == doc["id"]
        assert doc["published"].endswith("Z")
        titles.add(doc["title"])
    assert titles == {"Border guards detain fishermen", "Run-off set for June"}
