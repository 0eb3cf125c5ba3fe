"""Whether the Kafka cluster answers: a probe per interval drives readiness, a gauge and the outage's two log lines."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import KafkaError

from monitor.ops.metrics import KAFKA_OUTAGES, KAFKA_UP
from monitor.ops.readiness import Check
from monitor.settings import KafkaSettings
from monitor.stream.clients import security_options

log = structlog.get_logger(__name__)


async def probe(k: KafkaSettings, timeout_s: float) -> str:
    """'' when some bootstrap server completes a connection as the clients make it, else the last error met."""
    error = "no bootstrap server"
    for host, port, _ in collect_hosts(k.bootstrap_servers):
        try:
            async with asyncio.timeout(timeout_s):
                conn = await create_conn(host, port, request_timeout_ms=int(timeout_s * 1000), **security_options(k))
            conn.close()
            return ""
        except (OSError, KafkaError, TimeoutError, ValueError) as exc:
            # Retryable by nature: the watch probes again; a refused login or certificate also shows as unreachable.
            error = f"{host}:{port}: {type(exc).__name__}: {exc}".rstrip(": ")
    return error


class KafkaWatch:
    """Probes the cluster every `interval_s` and logs `kafka.unavailable` once when it stops answering and
    `kafka.recovered` with the outage's duration when it answers again."""

    def __init__(self, k: KafkaSettings, check: Check, interval_s: float) -> None:
        self._k = k
        self._check = check
        self._interval_s = interval_s
        self._down_since: float | None = None
        self._seen_up = False
        self.probes = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.observe(await probe(self._k, max(self._interval_s, 2.0)))
            self.probes += 1
            try:
                await asyncio.wait_for(stop.wait(), self._interval_s)
            except TimeoutError:
                pass

    def observe(self, error: str) -> None:
        """Take one probe's result: '' (answered) or the error."""
        if error:
            self._went_down(error)
        else:
            self._came_up()

    def _went_down(self, error: str) -> None:
        KAFKA_UP.set(0)
        self._check.down(f"unreachable: {error}")
        if self._down_since is None:
            self._down_since = time.monotonic()
            KAFKA_OUTAGES.inc()
            log.warning("kafka.unavailable", bootstrap=self._k.bootstrap_servers, error=error,
                        at_start=not self._seen_up)  # fmt: skip

    def _came_up(self) -> None:
        KAFKA_UP.set(1)
        self._check.up(self._k.bootstrap_servers)
        self._seen_up = True
        if self._down_since is not None:
            down_s = round(time.monotonic() - self._down_since, 3)
            self._down_since = None
            log.info("kafka.recovered", bootstrap=self._k.bootstrap_servers, down_s=down_s)
