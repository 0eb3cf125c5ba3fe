"""One alert per story and rule: the pairs that already alerted, kept in a compacted topic and read at start-up."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord

from monitor.messages import AlertState, DecodeError, decode, encode, encode_key, utcnow
from monitor.settings import KafkaSettings
from monitor.stream.reader import TopicReader

log = structlog.get_logger(__name__)


class SuppressionStore:
    """Event ids that alerted within the window; new ones are written through, expired ones tombstoned."""

    def __init__(self, kafka: KafkaSettings, topic: str, window_s: float, producer: AIOKafkaProducer) -> None:
        self._topic = topic
        self._window = timedelta(seconds=window_s)
        self._producer = producer
        self._states: dict[str, AlertState] = {}
        self._reader = TopicReader(kafka, topic, self._apply)

    def _apply(self, rec: ConsumerRecord[bytes, bytes]) -> None:
        if rec.key is None:
            return
        if rec.value is None:  # tombstone
            self._states.pop(rec.key.decode("utf-8", "replace"), None)
            return
        try:
            st = decode(AlertState, rec.value)
        except DecodeError as exc:
            log.warning("alert_state.undecodable", key=rec.key.decode("utf-8", "replace"), error=str(exc))
            return
        known = self._states.get(st.event_id)
        if known is None or self._supersedes(st, known):
            self._states[st.event_id] = st

    def _supersedes(self, st: AlertState, known: AlertState) -> bool:
        """Two instances racing keep the first match; a match a whole window later is a new alert, whose own
        window counts from then."""
        return (
            st.first_matched_at < known.first_matched_at or st.first_matched_at - known.first_matched_at >= self._window
        )

    async def start(self) -> int:
        """Read the topic to its end and drop what expired; return how many pairs are suppressed."""
        n = await self._reader.start()
        expired = await self.expire()
        log.info("alert_state.loaded", records=n, active=len(self._states), expired=expired)
        return len(self._states)

    async def catch_up(self) -> None:
        await self._reader.catch_up()

    def suppressed(self, event_id: str, now: datetime | None = None) -> bool:
        st = self._states.get(event_id)
        return st is not None and (now or utcnow()) - st.first_matched_at < self._window

    def note(self, state: AlertState) -> None:
        """Remember a new alert at once, so a repeat later in the same batch is suppressed too."""
        self._states[state.event_id] = state

    async def persist(self, states: list[AlertState]) -> None:
        """Write the states and wait until the broker has them all."""
        futures = [await self._producer.send(self._topic, encode(s), key=encode_key(s)) for s in states]
        for f in futures:
            await f

    async def expire(self, now: datetime | None = None) -> int:
        """Forget pairs older than the window and tombstone them so compaction removes them."""
        cutoff = (now or utcnow()) - self._window
        old = [k for k, st in self._states.items() if st.first_matched_at < cutoff]
        futures = [await self._producer.send(self._topic, None, key=k.encode("utf-8")) for k in old]
        for f in futures:
            await f
        for k in old:
            self._states.pop(k, None)
        return len(old)

    async def stop(self) -> None:
        await self._reader.stop()
