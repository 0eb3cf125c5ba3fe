"""The whole pipeline as separate real processes, one per stage instance, fed by the farm, delivering to a receiver."""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiokafka.admin import AIOKafkaAdminClient

from monitor.settings import Settings
from tests.support.alerts import SECRET
from tests.support.processes import start_newsmon, write_settings
from tests.support.receivers import Receiver
from tests.support.waiting import wait_for
from tests.system.farm import MARK, Farm, Story

STAGES = ("ingest", "classify", "alert", "deliver")


def rules_text(receiver_url: str, secret_file: Path) -> str:
    """One signed webhook sink; every story with the keyword alerts, whatever the model scores it."""
    return (
        "version: 1\nsinks:\n  hook:\n    type: webhook\n"
        f"    url: {receiver_url}\n    key_id: k2\n    secret_file: {secret_file}\n    concurrency: 4\n"
        "rules:\n  - id: marked\n    name: Marked\n    labels: {cross_border_incident: 0.0}\n"
        f"    include: [{MARK}]\n    include_backfill: true\n    sinks: [hook]\n"
    )


def groups(settings: Settings) -> dict[str, str]:
    """The consumer group of each consuming stage (and of the pollers), unique to these topics."""
    prefix = settings.topics.raw.split(".", 1)[0]
    return {stage: f"{prefix}-{stage}" for stage in STAGES}


@dataclass
class Pipeline:
    """Stage processes by name (a list: a stage may run several instances), with their settings and logs."""

    settings: Settings
    config: Path
    farm: Farm
    receiver: Receiver
    logs: Path
    procs: dict[str, list[asyncio.subprocess.Process]] = field(default_factory=dict)
    started: int = 0

    async def start(self, stage: str) -> asyncio.subprocess.Process:
        """One more instance of `stage`, logging to its own file."""
        self.started += 1
        log = self.logs / f"{stage}-{self.started}.log"
        proc = await start_newsmon(self.settings, self.config, log, "run", "--stage", stage)
        self.procs.setdefault(stage, []).append(proc)
        return proc

    async def running(self, timeout_s: float = 120.0) -> bool:
        """Wait until every instance logged `service.started` (its SIGTERM handler is installed by then)."""
        logs = sorted(self.logs.glob("*.log"))
        return await wait_for(lambda: all("service.started" in p.read_text(errors="replace") for p in logs), timeout_s)

    async def stop(self, stage: str, sig: signal.Signals, index: int = 0) -> int:
        """Send `sig` to an instance of `stage` and wait for it to exit; its exit code."""
        proc = self.procs[stage].pop(index)
        proc.send_signal(sig)
        return await asyncio.wait_for(proc.wait(), 60)

    def alive(self) -> dict[str, int]:
        """How many instances of each stage are still running."""
        return {s: sum(p.returncode is None for p in ps) for s, ps in self.procs.items()}

    def tail(self) -> str:
        """The end of every stage's log, for a failure message."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(self.logs.glob("*.log"))
        )

    async def shutdown(self) -> None:
        """SIGTERM every instance still running; kill any that outstays the grace."""
        for procs in self.procs.values():
            for proc in procs:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
        for procs in self.procs.values():
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), 40)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()

    async def members(self, stage: str) -> int:
        """How many members the stage's consumer group has now, as the broker sees it."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka.bootstrap_servers)
        await admin.start()
        try:
            (described,) = await admin.describe_consumer_groups([groups(self.settings)[stage]])
        finally:
            await admin.close()
        _, _, state, *_ = described.groups[0]
        return len(described.groups[0][-1]) if state == "Stable" else 0

    async def delivered(self, stories: list[Story], timeout_s: float) -> bool:
        """Wait until every alerting story among `stories` reached the receiver."""
        want = {s.title for s in stories if s.alerts}
        return await wait_for(lambda: want <= set(delivered_titles(self.receiver)), timeout_s=timeout_s, step_s=0.1)


def delivered_titles(receiver: Receiver) -> dict[str, set[str]]:
    """For every story title the receiver accepted, the alert event ids it came under."""
    out: dict[str, set[str]] = {}
    for r in receiver.requests:
        if r.status == 200:
            for a in alerts_in(r.body):
                out.setdefault(a[1], set()).add(a[0])
    return out


def alerts_in(body: bytes) -> list[tuple[str, str]]:
    """(event id, story title) of each alert in a webhook message."""
    doc = json.loads(body)
    return [(a["event_id"], a["story"]["title"]) for a in doc["alerts"]]


def write_config(settings: Settings, tmp: Path, receiver: Receiver, feed_urls: list[str], models: Path) -> Path:
    """Settings and rules for every stage on test time scales, and the feed list."""
    (tmp / "webhook.secret").write_text(SECRET + "\n")
    (tmp / "rules.yaml").write_text(rules_text(receiver.url, tmp / "webhook.secret"))
    write_feeds(tmp / "feeds.yaml", feed_urls)
    group = groups(settings)
    return write_settings(
        settings, tmp,
        # The broker's floor: a crashed instance's partitions move as soon as Kafka allows.
        kafka={"session_timeout_s": 6.0},
        ingest={"feeds_file": str(tmp / "feeds.yaml"), "group_id": group["ingest"], "default_interval_s": 0.4,
                "min_interval_s": 0.2, "max_interval_s": 1.0, "max_backoff_s": 1.0, "session_timeout_s": 6.0,
                # Every farm feed is on one host: without this the burst would be fetched four feeds at a time.
                "per_host": 64, "parse_workers": 0,
                # Every story is English; detecting it would only add CPU the burst competes for.
                "detect_language": False},
        classifier={"model_dir": str(models), "group_id": group["classify"], "workers": 1, "batch_size": 256},
        alerts={"rules_file": str(tmp / "rules.yaml"), "matcher_group_id": group["alert"],
                "delivery_group_id": group["deliver"], "backoff_base_s": 0.1, "backoff_max_s": 2.0,
                "breaker_failures": 5, "breaker_cooldown_s": 1.0, "max_attempts": 1000, "max_age_s": 900.0,
                "commit_interval_s": 0.2, "drain_timeout_s": 10.0},
    )  # fmt: skip


def write_feeds(path: Path, urls: list[str], slow_from: int | None = None) -> None:
    """The feed list (ids f0, f1, ...); feeds from index `slow_from` on are polled only every five minutes."""
    feeds = [{"id": f"f{n}", "url": u} for n, u in enumerate(urls)]
    for f in feeds[slow_from or len(feeds) :]:
        f["interval_s"] = 300.0
    path.write_text(yaml.safe_dump({"feeds": feeds}))
