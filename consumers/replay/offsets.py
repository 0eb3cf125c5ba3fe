"""Explicit offset ranges (`--offsets 0:1200-5000,2:0-`): parsed, then checked against what the partitions hold."""

from __future__ import annotations

import re

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.replay.request import ReplayInputError

_RANGE = re.compile(r"^(\d+):(\d+)-(\d*)$")
SYNTAX = "PARTITION:START-END[,...] (END exclusive; empty END: up to the partition's current end), e.g. 0:100-500,1:0-"

# One partition's asked range; end None: up to the current end.
Asked = tuple[int, int, int | None]


def _one(part: str) -> Asked:
    m = _RANGE.match(part.strip())
    if not m:
        raise ReplayInputError(f"--offsets {part.strip()!r}: give {SYNTAX}")
    p, start, end = int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None
    if end is not None and end <= start:
        raise ReplayInputError(f"--offsets {part.strip()!r}: the end must lie after the start (it is exclusive)")
    return p, start, end


def parse_offsets(text: str) -> tuple[Asked, ...]:
    """The ranges of `--offsets`, each partition at most once."""
    asked = tuple(_one(x) for x in text.split(",") if x.strip())
    if not asked:
        raise ReplayInputError(f"--offsets is empty: give {SYNTAX}")
    seen = [p for p, _, _ in asked]
    twice = sorted({p for p in seen if seen.count(p) > 1})
    if twice:
        raise ReplayInputError(f"--offsets names partition {twice[0]} twice")
    return asked


async def explicit_spans(
    consumer: AIOKafkaConsumer, topic: str, available: list[int], asked: tuple[Asked, ...]
) -> list[tuple[int, int, int]]:
    """The asked ranges as (partition, start, end exclusive).

    ReplayInputError when one names a missing partition, or offsets the partition does not (or no longer) hold.
    """
    missing = sorted({p for p, _, _ in asked} - set(available))
    if missing:
        raise ReplayInputError(f"--offsets: topic {topic} has no partition {missing[0]} "
                               f"(it has {', '.join(map(str, available))})")  # fmt: skip
    tps = [TopicPartition(topic, p) for p, _, _ in asked]
    lows, highs = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    spans = []
    for tp, (p, start, end) in zip(tps, asked, strict=True):
        low, high = lows[tp], highs[tp]
        stop = high if end is None else end
        if start < low or stop > high:
            raise ReplayInputError(f"--offsets {p}:{start}-{'' if end is None else end}: partition {p} of {topic} "
                                   f"holds offsets {low}-{high} (end exclusive)")  # fmt: skip
        spans.append((p, start, stop))
    return spans
