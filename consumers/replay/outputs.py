"""A replay's outputs as topics of its own, `replay.<run-id>.classified` and `.alerts`, for other tools to read.

They are created with a short retention and never share a name with a live topic, so a replay cannot feed the
live alert or delivery stages.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import structlog

from consumers.alert.rules import Rule, RuleSet
from consumers.replay.evaluate import Seen
from monitor.messages import Alert, ClassifiedItem, decode, encode
from monitor.settings import Settings
from monitor.stream.clients import make_producer
from monitor.stream.produce import Outgoing, produce_retrying
from monitor.topics import TopicSpec, ensure_topics

log = structlog.get_logger(__name__)

PREFIX = "replay."
RETENTION_MS = 24 * 3600 * 1000


def by_crc32(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """A key's partition by CRC-32, computed in C; the client's murmur2 runs in Python and took most of the time.

    A key still always lands in one partition; only these short-lived topics are partitioned this way.
    """
    return all_partitions[zlib.crc32(key or b"") % len(all_partitions)]


def output_topics(run_id: str) -> tuple[str, str]:
    """The classified and alerts topics of one replay run."""
    return f"{PREFIX}{run_id}.classified", f"{PREFIX}{run_id}.alerts"


def _alert(rule: Rule, eid: str, c: ClassifiedItem, seen: Seen) -> Alert:
    """The alert the live stage would have produced for the replayed item."""
    return Alert(event_id=eid, rule_id=rule.id, rule_name=rule.name, sinks=list(rule.sinks), item=c,
                 reasons=rule.match(c) or [], matched_at=seen.at, mode="digest" if rule.digest_s else "immediate",
                 digest_s=rule.digest_s)  # fmt: skip


class ReplayOutputs:
    """Collects each replayed item and its alerts, and produces them batch by batch to the run's topics."""

    def __init__(self, settings: Settings, run_id: str, rules: RuleSet) -> None:
        self._settings = settings
        self.classified, self.alerts = output_topics(run_id)
        self._rules = {r.id: r for r in rules.rules}
        self._pending: list[Outgoing] = []
        # Large batches without compression: a replay writes a whole range at once, to short-lived topics.
        self._producer = make_producer(settings.kafka, linger_ms=50, max_batch_size=1 << 20, compression_type=None,
                                       partitioner=by_crc32)  # fmt: skip
        self._inflight: asyncio.Future[None] | None = None
        self.written = {"classified": 0, "alerts": 0}
        self._started = False

    async def start(self) -> None:
        t = self._settings.topics
        config = {"cleanup.policy": "delete", "retention.ms": str(RETENTION_MS)}
        specs = [TopicSpec(self.classified, ClassifiedItem, t.partitions, config, "a replay's classified items"),
                 TopicSpec(self.alerts, Alert, t.partitions, config, "a replay's alerts")]  # fmt: skip
        await ensure_topics(self._settings.kafka, specs, t.replication_factor)
        await self._producer.start()
        self._started = True
        log.info("replay.outputs", classified=self.classified, alerts=self.alerts)

    def see(self, seen: Seen) -> None:
        value = seen.item.value
        assert value is not None, "judges keep the items when outputs are written"
        key = seen.item.item_id.encode()
        self._pending.append(Outgoing(self.classified, key, value))
        if seen.alerts:
            c = decode(ClassifiedItem, value)
            for rule_id, eid in seen.alerts:
                alert = _alert(self._rules[rule_id], eid, c, seen)
                self._pending.append(Outgoing(self.alerts, eid.encode(), encode(alert)))

    async def flush(self) -> None:
        """Start producing what was collected once the previous batch is acknowledged; one batch is in flight."""
        await self.drain()
        if self._pending:
            pending, self._pending = self._pending, []
            self._inflight = asyncio.ensure_future(self._produce(pending))

    async def drain(self) -> None:
        """Wait for the batch in flight; its failure is raised here."""
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            await inflight

    async def _produce(self, pending: list[Outgoing]) -> None:
        """Produce and count one batch; broker outages are waited out (the replay's stop does not cut a batch)."""
        rejected = await produce_retrying(self._producer, pending, stage="replay", stop=asyncio.Event()) or []
        for r in rejected:
            log.warning("replay.output_rejected", topic=r.record.topic, reason=r.reason)
        for rec in pending:
            self.written["classified" if rec.topic == self.classified else "alerts"] += 1
        for r in rejected:
            self.written["classified" if r.record.topic == self.classified else "alerts"] -= 1

    async def close(self) -> None:
        if self._inflight is not None:
            self._inflight.cancel()
        if self._started:
            await self._producer.stop()

    def as_dict(self) -> dict[str, Any]:
        return {"classified": self.classified, "alerts": self.alerts, "written": dict(self.written)}
