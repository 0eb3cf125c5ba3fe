"""Running newsmon as a real process in tests: a settings file, a child with a clean environment, its log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from monitor.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def write_settings(settings: Settings, tmp_path: Path, **sections: dict[str, Any]) -> Path:
    """A settings file with this test's topics, no metrics port, JSON logs, local feeds allowed, and the sections."""
    cfg: dict[str, Any] = {"topics": settings.topics.model_dump(), "metrics": {"port": 0}, "log": {"format": "json"}}
    cfg.update(sections)
    # The tests' feed servers listen on loopback, which the fetch policy refuses by default.
    cfg["ingest"] = {"allow_private_addresses": True, **cfg.get("ingest", {})}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


async def start_newsmon(
    settings: Settings, config: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`newsmon --settings CONFIG ARGS...` in its own process, logging to `log`; `env` adds variables."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    child["NEWSMON_KAFKA_BOOTSTRAP"] = settings.kafka.bootstrap_servers
    child.update(env or {})
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "--settings", str(config), *args,
            cwd=REPO, env=child, stdout=out, stderr=out,
        )  # fmt: skip


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    """The JSON log records of one event name in a process's log."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            record = json.loads(line)
            if record.get("event") == event:
                out.append(record)
    return out


def signal_delivered(pid: int, signum: int) -> bool:
    """Whether the kernel has handed `signum` to the process (no longer pending), so its handler has run."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True  # the process is gone
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    bit = 1 << (signum - 1)
    return not (int(fields["SigPnd"], 16) & bit or int(fields["ShdPnd"], 16) & bit)
