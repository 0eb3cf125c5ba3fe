"""Kafka clients configured the one way newsmon uses them."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from monitor.settings import KafkaSettings


def make_producer(k: KafkaSettings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas, so an acknowledged item is not lost."""
    opts: dict[str, object] = {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": k.client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "request_timeout_ms": k.request_timeout_ms,
        "compression_type": "gzip",
    }
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


def make_consumer(k: KafkaSettings, *topics: str, group_id: str | None, **overrides: object) -> AIOKafkaConsumer:
    """A consumer that commits explicitly (only work that is done) and starts from the oldest retained record."""
    opts: dict[str, object] = {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": k.client_id,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 10000,
        "request_timeout_ms": k.request_timeout_ms,
    }
    opts.update(overrides)
    return AIOKafkaConsumer(*topics, **opts)
