"""The topics newsmon owns: names, partitions, retention and cleanup policy, and their message types."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from monitor.messages import (
    Alert,
    AlertState,
    ClassifiedItem,
    DeadLetter,
    Delivery,
    FeedRegistration,
    FeedState,
    Message,
    RawItem,
    ShadowAlert,
    Story,
    StorySignature,
)
from monitor.settings import KafkaSettings, TopicSettings
from monitor.stream.clients import make_admin, make_consumer, start_client

_DAY_MS = 24 * 3600 * 1000


class TopicSetupError(Exception):
    """The broker refused to create a topic (permanent: bad config or permissions)."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    message: type[Message]
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""

    @property
    def compacted(self) -> bool:
        return "compact" in self.config.get("cleanup.policy", "").split(",")


def topic_specs(t: TopicSettings) -> list[TopicSpec]:
    """Every topic with its layout; the order is the pipeline's."""
    retention = {"cleanup.policy": "delete", "retention.ms": str(int(t.retention_days * _DAY_MS))}
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "segment.ms": str(_DAY_MS)}
    return [
        TopicSpec(t.raw, RawItem, t.partitions, retention, "normalized items from the pollers"),
        TopicSpec(t.classified, ClassifiedItem, t.partitions, retention, "every raw item with its scores"),
        TopicSpec(t.storied, ClassifiedItem, t.partitions, retention, "every classified item with its story id"),
        TopicSpec(t.alerts, Alert, t.partitions, retention, "rule matches awaiting delivery"),
        TopicSpec(t.shadow, ShadowAlert, t.partitions, retention, "what shadow rules and models would have sent"),
        TopicSpec(t.deliveries, Delivery, t.partitions, retention, "one record per delivery attempt"),
        TopicSpec(t.dead_letter, DeadLetter, 1, retention, "messages that could not be processed"),
        TopicSpec(t.feed_state, FeedState, t.partitions, compacted, "per-feed poller state"),
        TopicSpec(t.alert_state, AlertState, t.partitions, compacted, "stories each rule already alerted for"),
        TopicSpec(t.feed_registry, FeedRegistration, t.registry_partitions, compacted, "feeds the pollers share"),
        # Closed stories are history: kept for the retention period after their last change, then deleted.
        TopicSpec(
            t.stories,
            Story,
            t.partitions,
            {**compacted, "cleanup.policy": "compact,delete", "retention.ms": retention["retention.ms"]},
            "stories: items of many outlets on one event",
        ),
        TopicSpec(
            t.story_signatures,
            StorySignature,
            t.partitions,
            {**compacted, "cleanup.policy": "compact,delete", "retention.ms": retention["retention.ms"]},
            "MinHash signatures of stories' first members",
        ),
    ]


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    # Clients that start right after creation would otherwise log NotLeaderForPartition while leaders settle.
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(names)
        if all(
            t.get("error_code", 0) == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.2)
    raise TopicSetupError(f"topics {names} have no leader after {timeout_s:.0f}s")


async def _wait_until_readable(kafka: KafkaSettings, specs: list[TopicSpec], timeout_s: float = 30.0) -> None:
    # Metadata names a leader a moment before the broker serves the partition; readers starting in that moment
    # retry for up to a second, which start-up (reading compacted state) would otherwise pay.
    tps = [TopicPartition(s.name, p) for s in specs for p in range(s.partitions)]
    consumer = make_consumer(kafka, group_id=None, client_id=f"{kafka.client_id}-admin",
                             request_timeout_ms=int(timeout_s * 1000))  # fmt: skip
    await start_client(consumer, kafka)
    try:
        await consumer.end_offsets(tps)
    except KafkaError as exc:
        raise TopicSetupError(f"new topics are not readable after {timeout_s:.0f}s: {exc!r}") from exc
    finally:
        await consumer.stop()


async def _wait_for_group_coordinator(admin: AIOKafkaAdminClient, timeout_s: float = 30.0) -> None:
    # A fresh cluster creates its offsets topic on the first group lookup; doing that here keeps the stages' first
    # group joins (and so the pollers' first feed assignment) short.
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.find_coordinator("newsmon")
            return
        except KafkaError as exc:
            if not exc.retriable or asyncio.get_running_loop().time() >= deadline:
                raise TopicSetupError(f"no consumer-group coordinator after {timeout_s:.0f}s: {exc!r}") from exc
        await asyncio.sleep(0.2)


async def ensure_topics(kafka: KafkaSettings, specs: list[TopicSpec], replication_factor: int) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Raises KafkaAccessError when the cluster refuses the TLS handshake or SASL login.
    """
    admin = make_admin(kafka)
    await start_client(admin, kafka)
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=replication_factor,
                     topic_configs=s.config)
            for s in missing
        ]  # fmt: skip
        resp = await admin.create_topics(new)
        created = []
        for entry in resp.topic_errors:
            name, code = entry[0], entry[1]
            message = entry[2] if len(entry) > 2 else ""
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:  # another process may have created it meanwhile
                raise TopicSetupError(f"cannot create topic {name}: error {code} {message}")
        await _wait_for_leaders(admin, [s.name for s in missing])
        await _wait_until_readable(kafka, missing)
        await _wait_for_group_coordinator(admin)
        return created
    finally:
        await admin.close()
