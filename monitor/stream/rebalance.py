"""The one rebalance listener: a stage says what to do when partitions are revoked from it and assigned to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRebalanceListener, TopicPartition

OnPartitions = Callable[[set[TopicPartition]], Awaitable[object]]


async def _nothing(_: set[TopicPartition]) -> None:
    return None


class Rebalance(ConsumerRebalanceListener):
    """Calls `revoked` before partitions leave this member (commit what is done) and `assigned` after new ones come
    (catch up the tables they depend on)."""

    def __init__(self, revoked: OnPartitions = _nothing, assigned: OnPartitions = _nothing) -> None:
        self._revoked = revoked
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned(set(assigned))
