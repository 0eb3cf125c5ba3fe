"""A child process's operations endpoint, asked when the parent's own is: its readiness, metrics and feeds join the
parent's answers, so a service of two processes shows one face."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from monitor.ingest.policy import FeedHealth
from monitor.ops.status import FeedRow

# A child that does not answer within this is reported as not ready; probes have their own, longer timeouts.
ASK_TIMEOUT_S = 2.0


class OpsPeer:
    """The endpoint of a child process named `name` at `base`; every question has a short timeout."""

    def __init__(self, name: str, base: str) -> None:
        self.name, self.base = name, base

    async def _get(self, path: str) -> tuple[int, bytes] | None:
        timeout = aiohttp.ClientTimeout(total=ASK_TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as s, s.get(f"{self.base}{path}") as r:
                return r.status, await r.read()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def readiness(self) -> dict[str, Any] | None:
        """The child's `/readyz` body, or None while it does not answer."""
        got = await self._get("/readyz")
        return None if got is None else dict(json.loads(got[1]))

    async def metrics(self) -> str:
        got = await self._get("/metrics")
        return got[1].decode() if got is not None and got[0] == 200 else ""

    async def feed_rows(self) -> list[FeedRow]:
        got = await self._get("/feeds.json")
        if got is None or got[0] != 200:
            return []
        return [row_from_dict(d) for d in json.loads(got[1])]


def row_to_dict(row: FeedRow) -> dict[str, Any]:
    d = asdict(row)
    for key in ("last_attempt", "last_success"):
        d[key] = d[key].isoformat() if d[key] else None
    return d


def row_from_dict(d: dict[str, Any]) -> FeedRow:
    when = {k: datetime.fromisoformat(d[k]) if d.get(k) else None for k in ("last_attempt", "last_success")}
    return FeedRow(d["feed_id"], d["url"], FeedHealth(d["health"]), int(d.get("consecutive_errors", 0)),
                   str(d.get("last_error", "")), **when)  # fmt: skip


def merge_readiness(own: dict[str, Any], peer: OpsPeer, theirs: dict[str, Any] | None) -> dict[str, Any]:
    """One readiness answer: a check both report holds when both hold; an unanswering child is a failed check."""
    checks = dict(own["checks"])
    if theirs is None:
        checks[f"{peer.name}.process"] = {"ok": False, "detail": f"{peer.name} process does not answer", "since": 0}
    else:
        for name, check in theirs.get("checks", {}).items():
            mine = checks.get(name)
            if mine is None or not check["ok"]:
                checks[name] = {**check, "detail": f"{peer.name} process: {check['detail']}"}
    return {"ready": bool(checks) and all(c["ok"] for c in checks.values()), "checks": checks}


def merge_metrics(own: bytes, theirs: str) -> bytes:
    """The parent's exposition with the child's samples added. A count both export is the sum (a process that
    imported a stage's metrics without running it reports zeros); of any other sample both export (process figures,
    the Kafka probe, creation times) the parent's is kept."""
    if not theirs:
        return own
    families: dict[str, Metric] = {f.name: f for f in text_string_to_metric_families(own.decode())}
    for fam in text_string_to_metric_families(theirs):
        mine = families.get(fam.name)
        if mine is None:
            families[fam.name] = fam
            continue
        at = {_key(s): i for i, s in enumerate(mine.samples)}
        for sample in fam.samples:
            i = at.get(_key(sample))
            if i is None:
                mine.samples.append(sample)
            elif fam.type in _COUNTS and not sample.name.endswith("_created"):
                mine.samples[i] = mine.samples[i]._replace(value=mine.samples[i].value + sample.value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    return generate_latest(registry)


_COUNTS = frozenset({"counter", "histogram", "summary"})


def _key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample.name, tuple(sorted(sample.labels.items()))


class _Families:
    """A collector of ready-made families."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families
