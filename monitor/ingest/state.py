"""Per-feed poller state kept in a compacted Kafka topic, so a restarted poller resumes where it stopped."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from monitor.messages import FeedState, decode, encode
from monitor.settings import KafkaSettings
from monitor.stream.table import Table

# Pydantic gives every model instance its own set of the fields it was built with (over 2 KB for a decoded or
# copied FeedState, one per feed); nothing reads it, so every state kept in memory shares this one.
_FIELDS_SET = set(FeedState.model_fields)


def compact(state: FeedState) -> FeedState:
    """The same state, for keeping in memory: it shares its fields-set with every other state kept."""
    if state.__pydantic_fields_set__ is _FIELDS_SET:
        return state
    return FeedState.model_construct(_FIELDS_SET, **state.__dict__)


def _decoded(value: bytes) -> FeedState:
    return compact(decode(FeedState, value))


class FeedStateStore:
    """The latest FeedState of every feed: read from the topic at start, written through on change.

    A state that changes little (a plain 304) is written at most once per `coalesce_s` given to `put`; until then,
    and after a write the broker refused, it is kept in memory as unwritten and `get` returns it.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self._table = Table(kafka, topic, producer, decode=_decoded, encode=encode)

    async def load(self) -> int:
        """Read the topic from the beginning to its current end; return how many feeds have state."""
        return await self._table.reload()

    async def refresh(self, feed_ids: set[str]) -> int:
        """Replace these feeds' states with the topic's latest (another poller may have polled them); return found."""
        return await self._table.reload(feed_ids)

    def get(self, feed_id: str) -> FeedState | None:
        return self._table.get(feed_id)

    async def put(self, state: FeedState, coalesce_s: float | None = None) -> bool:
        """Write the state (see `Table.put`); return whether it was written rather than kept as unwritten."""
        return await self._table.put(state.feed_id, compact(state), coalesce_s)

    def hold(self, state: FeedState) -> None:
        """Keep a state the broker did not take as unwritten: it is written with the feed's next put."""
        self._table.hold(state.feed_id, compact(state))
