"""Which offsets a consuming stage may commit: only finished records, and only of partitions it still owns."""

from __future__ import annotations

from collections import OrderedDict

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

log = structlog.get_logger(__name__)


class OffsetTracker:
    """Offsets handed out per partition, and the commit point below which every record is finished."""

    def __init__(self) -> None:
        # Finished records leave from the front: an OrderedDict pops there in constant time, a dict does not.
        self._open: dict[TopicPartition, OrderedDict[int, bool]] = {}
        self._ready: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._pending = 0

    @property
    def pending(self) -> int:
        """Records handed out and not finished yet."""
        return self._pending

    def add(self, tp: TopicPartition, offset: int) -> None:
        offs = self._open.setdefault(tp, OrderedDict())
        if offset in offs:
            return
        self._pending += 1
        if offs and offset < next(reversed(offs)):
            # Re-read after a seek: keep the dict in offset order.
            offs[offset] = False
            self._open[tp] = OrderedDict(sorted(offs.items()))
            return
        offs[offset] = False

    def done(self, tp: TopicPartition, offset: int) -> None:
        offs = self._open.get(tp)
        if offs is None or offs.get(offset, True):
            return  # finished already, or the partition was revoked meanwhile and its next owner re-reads it
        offs[offset] = True
        self._pending -= 1
        last = None
        while offs:
            first = next(iter(offs))
            if not offs[first]:
                break
            del offs[first]
            last = first
        if last is not None:
            self._ready[tp] = last + 1

    def to_commit(self) -> dict[TopicPartition, int]:
        """Commit points that moved since the last successful commit."""
        return {tp: off for tp, off in self._ready.items() if self._committed.get(tp, -1) < off}

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            self._committed[tp] = max(self._committed.get(tp, -1), off)

    def forget(self, tps: set[TopicPartition] | list[TopicPartition]) -> None:
        """Drop revoked partitions: their unfinished records belong to the next owner now."""
        for tp in tps:
            self._pending -= sum(1 for finished in self._open.get(tp, {}).values() if not finished)
            self._open.pop(tp, None)
            self._ready.pop(tp, None)
            self._committed.pop(tp, None)


async def commit(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int], stage: str) -> bool:
    """Commit offsets of partitions still assigned; False (logged) when the broker or a rebalance refused.

    A rebalance while records were in flight may have moved partitions away; their new owner re-reads them from the
    last commit (at least once), and committing them here would fail or move that owner's position.
    """
    assigned = consumer.assignment()
    offsets = {tp: off for tp, off in offsets.items() if tp in assigned}
    if not offsets:
        return True
    try:
        await consumer.commit(offsets)
        return True
    except (CommitFailedError, IllegalStateError) as exc:
        # The partitions moved to another member; it re-reads from the last commit (at least once).
        log.warning(f"{stage}.commit_lost_to_rebalance", error=str(exc))
    except KafkaError as exc:
        log.warning(f"{stage}.commit_failed", error=repr(exc), retry="next commit")
    return False
