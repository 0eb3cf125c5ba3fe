"""One alert per story and rule: the pairs that already alerted, kept in a compacted topic and read at start-up."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from aiokafka import AIOKafkaProducer

from monitor.messages import AlertState, decode, encode, utcnow
from monitor.settings import KafkaSettings
from monitor.stream.table import Table

log = structlog.get_logger(__name__)


class SuppressionStore:
    """Event ids that alerted within the window; new ones are written through, expired ones tombstoned."""

    def __init__(self, kafka: KafkaSettings, topic: str, window_s: float, producer: AIOKafkaProducer) -> None:
        self._window = timedelta(seconds=window_s)
        self._table = Table(kafka, topic, producer, lambda v: decode(AlertState, v), encode, self._supersedes)

    def _supersedes(self, st: AlertState, known: AlertState) -> bool:
        """Two instances racing keep the first match; a match a whole window later is a new alert, whose own
        window counts from then."""
        return (
            st.first_matched_at < known.first_matched_at or st.first_matched_at - known.first_matched_at >= self._window
        )

    async def start(self) -> int:
        """Read the topic to its end and drop what expired; return how many pairs are suppressed."""
        n = await self._table.load()
        expired = await self.expire()
        log.info("alert_state.loaded", records=n, active=len(self._table), expired=expired)
        return len(self._table)

    async def catch_up(self) -> None:
        await self._table.catch_up()

    def suppressed(self, event_id: str, now: datetime | None = None) -> bool:
        st = self._table.get(event_id)
        return st is not None and (now or utcnow()) - st.first_matched_at < self._window

    def note(self, state: AlertState) -> None:
        """Remember a new alert at once, so a repeat later in the same batch is suppressed too."""
        self._table.remember(state.event_id, state)

    async def expire(self, now: datetime | None = None) -> int:
        """Forget pairs older than the window and tombstone them so compaction removes them."""
        cutoff = (now or utcnow()) - self._window
        return await self._table.tombstone(k for k, st in self._table.items() if st.first_matched_at < cutoff)

    async def stop(self) -> None:
        await self._table.stop()
