"""A table kept in a compacted topic: the latest value of every key, read from the topic and written through to it."""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable, Iterator
from datetime import datetime
from typing import Generic, TypeVar

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition

from monitor.messages import DecodeError
from monitor.settings import KafkaSettings
from monitor.stream.produce import Outgoing, produce_each
from monitor.stream.reader import TopicReader, partitions, read_to_end, reading_consumer, rewind

log = structlog.get_logger(__name__)

V = TypeVar("V")


async def read_table(
    kafka: KafkaSettings,
    topic: str,
    keys: Container[bytes] | None = None,
    parts: Iterable[int] | None = None,
    timeout_s: float = 60.0,
) -> dict[bytes, bytes | None]:
    """The latest value of every key (or of those in `keys`) of a compacted topic, from its beginning to its end then.

    A tombstone maps to None. Raises TimeoutError when the broker does not deliver the records in time.
    """
    latest: dict[bytes, bytes | None] = {}

    def keep(rec: ConsumerRecord[bytes, bytes]) -> None:
        if rec.key is not None and (keys is None or rec.key in keys):
            latest[rec.key] = rec.value

    tps = [TopicPartition(topic, p) for p in (parts if parts is not None else await partitions(kafka, topic))]
    consumer = reading_consumer(kafka)
    await consumer.start()
    try:
        consumer.assign(tps)
        await read_to_end(consumer, await rewind(consumer, tps), keep, timeout_s)
    finally:
        await consumer.stop()
    return latest


async def read_latest(
    kafka: KafkaSettings, topic: str, decode: Callable[[bytes], V | None], timeout_s: float = 60.0
) -> dict[str, V]:
    """The latest readable value of every key of a compacted topic; undecodable values are logged and skipped."""
    table = Table(kafka, topic, None, decode)
    await table.reload(timeout_s=timeout_s)
    return dict(table.items())


class Table(Generic[V]):
    """The latest value of every key of a compacted topic: loaded at start, caught up on assignment, written through.

    `decode` turns a record's value into V (DecodeError for a value it cannot read, which is logged and skipped;
    None for one the table does not keep), `encode` turns V back; `supersedes(new, known)` decides whether a value
    read replaces the one known (default: always, the latest wins); `key_of` gives the key a value read is kept
    under (default: its record's key). A table without a producer and `encode` is read-only.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        producer: AIOKafkaProducer | None,
        decode: Callable[[bytes], V | None],
        encode: Callable[[V], bytes] | None = None,
        supersedes: Callable[[V, V], bool] | None = None,
        key_of: Callable[[V], str] | None = None,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer = producer
        self._decode = decode
        self._encode = encode
        self._supersedes = supersedes
        self._key_of = key_of
        self._values: dict[str, V] = {}
        self._unwritten: dict[str, V] = {}  # coalesced puts not written yet; they shadow the stored value
        self._written_at: dict[str, float] = {}
        self._loaded_at = time.monotonic()
        self._reader = TopicReader(kafka, topic, self.apply)

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: str) -> V | None:
        return self._unwritten.get(key, self._values.get(key))

    def items(self) -> Iterator[tuple[str, V]]:
        return iter(list(self._values.items()))

    async def load(self, timeout_s: float = 60.0, since: datetime | None = None) -> int:
        """Read the topic from its beginning (or from `since`) to its end and keep reading from there on `catch_up`;
        return how many records were read."""
        n = await self._reader.start(since, timeout_s)
        self._loaded_at = time.monotonic()
        return n

    async def catch_up(self, timeout_s: float = 60.0) -> int:
        """Apply what other writers wrote since the last read (call it when partitions move to this member)."""
        return await self._reader.catch_up(timeout_s)

    async def reload(self, keys: Iterable[str] | None = None, timeout_s: float = 60.0) -> int:
        """Replace these keys (all when None) with the topic's latest, read afresh; return how many have a value."""
        wanted = None if keys is None else set(keys)
        # A writer's producer knows the partitions already; a read-only table asks the cluster.
        parts = None if self._producer is None else await self._producer.partitions_for(self._topic)
        # Only the wanted keys' records are kept while reading: the topic may hold far more than this member's.
        latest = await read_table(self._kafka, self._topic, _encoded(wanted), parts, timeout_s)
        for key in list(self._values) if wanted is None else wanted:
            self._forget(key)
        for raw, value in latest.items():
            self._put_read(raw.decode(errors="replace"), value)
        if wanted is None:  # a partial reload says nothing of how recently the other keys were written
            self._loaded_at = time.monotonic()
        return len(self._values) if wanted is None else sum(1 for k in wanted if k in self._values)

    def remember(self, key: str, value: V) -> None:
        """Keep a value in memory without writing it (its writer is elsewhere, or it is written later)."""
        self._values[key] = value

    async def put(self, key: str, value: V, coalesce_s: float | None = None) -> bool:
        """Write a value and wait for the broker's acknowledgement before remembering it; return whether it was written.

        With `coalesce_s`, a key written less than that long ago is only remembered as unwritten, and written with
        a later put: a value that changes often but matters little then costs one write per interval.
        """
        if coalesce_s is not None and time.monotonic() - self._written_at.get(key, self._loaded_at) < coalesce_s:
            self.hold(key, value)
            return False
        producer, encode = self._writer()
        await producer.send_and_wait(self._topic, encode(value), key=key.encode())
        self._unwritten.pop(key, None)
        self._values[key] = value
        self._written_at[key] = time.monotonic()
        return True

    def forget(self, keys: Iterable[str]) -> None:
        """Let go of keys in memory only, their records staying on the topic (values no longer needed here)."""
        for key in list(keys):  # the keys may be read off this very table
            self._forget(key)
            self._written_at.pop(key, None)

    def hold(self, key: str, value: V) -> None:
        """Keep a value as unwritten (coalesced, or refused by the broker): `get` returns it until a put writes it
        or a reload replaces it with the topic's latest."""
        self._unwritten[key] = value

    async def tombstone(self, keys: Iterable[str]) -> int:
        """Delete keys: write a tombstone for each, wait for every acknowledgement, then forget them."""
        gone = list(keys)
        producer, _ = self._writer()
        await produce_each(producer, [Outgoing(self._topic, k.encode(), None) for k in gone])
        self.forget(gone)
        return len(gone)

    async def stop(self) -> None:
        await self._reader.stop()

    def _writer(self) -> tuple[AIOKafkaProducer, Callable[[V], bytes]]:
        if self._producer is None or self._encode is None:
            raise TypeError(f"the table of {self._topic} is read-only")
        return self._producer, self._encode

    def _forget(self, key: str) -> None:
        self._values.pop(key, None)
        self._unwritten.pop(key, None)

    def apply(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        """Apply one record read by another consumer (a group member reading its partitions itself)."""
        if rec.key is not None:
            self._put_read(rec.key.decode(errors="replace"), rec.value)

    def _put_read(self, key: str, value: bytes | None) -> None:
        """Apply one value read from the topic: a tombstone deletes, an undecodable value is logged and skipped."""
        if value is None:
            self._forget(key)
            return
        try:
            decoded = self._decode(value)
        except DecodeError as exc:
            log.warning("table.undecodable", topic=self._topic, key=key, error=str(exc))
            return
        if decoded is None:
            return
        if self._key_of is not None:
            key = self._key_of(decoded)
        known = self._values.get(key)
        if known is None or self._supersedes is None or self._supersedes(decoded, known):
            self._values[key] = decoded


def _encoded(keys: set[str] | None) -> set[bytes] | None:
    return None if keys is None else {k.encode() for k in keys}
