"""Reading a whole topic back in tests."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, ConsumerRecord


async def read_topic(
    bootstrap: str, topic: str, *, expect: int | None = None, timeout_s: float = 20.0, idle_s: float = 1.5
) -> list[ConsumerRecord[bytes, bytes]]:
    """All records of a topic: until `expect` arrived (or timeout), else until nothing came for idle_s."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            got = [r for recs in batch.values() for r in recs]
            if got:
                out.extend(got)
                last = loop.time()
            if expect is not None and len(out) >= expect:
                # Stay a moment longer so an unexpected duplicate would still be seen.
                extra = await consumer.getmany(timeout_ms=int(idle_s * 1000))
                out.extend(r for recs in extra.values() for r in recs)
                break
            if expect is None and loop.time() - last > idle_s:
                break
    finally:
        await consumer.stop()
    return out
