"""Processes sharing one local broker: one starts it, the others attach, and an orphan is still found and stopped."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from monitor.broker.local import free_port, probe_metadata

REPO = Path(__file__).resolve().parents[2]
NEWSMON = [sys.executable, "-m", "monitor"]
TIMEOUT_S = 180.0


def _wait_for(check: Callable[[], object], what: str, timeout_s: float = TIMEOUT_S) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _brokers(data_dir: Path) -> list[psutil.Process]:
    """Running broker JVMs whose command line names this data directory."""
    config = str(data_dir / "server.properties")
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = p.info["cmdline"] or []
        if config in cmdline and "kafka.Kafka" in cmdline and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(p)
    return found


@pytest.fixture
def settings_file(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "kafka"
    kafka = {"port": free_port(), "controller_port": free_port(), "data_dir": str(data_dir),
             "dist_dir": str(REPO / ".cache" / "kafka"), "heap": "256m"}  # fmt: skip
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"kafka": kafka}))
    try:
        yield path
    finally:
        for p in _brokers(data_dir):
            p.kill()


def _user(settings_file: Path, ready: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.broker_user", str(settings_file), str(ready)], cwd=REPO
    )


def _ready(path: Path) -> bool:
    return path.exists() and json.loads(path.read_text())["reachable"]


def _bootstrap(settings_file: Path) -> str:
    return f"127.0.0.1:{yaml.safe_load(settings_file.read_text())['kafka']['port']}"


def _newsmon(settings_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*NEWSMON, "--settings", str(settings_file), *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def test_two_processes_starting_at_once_share_one_broker_and_the_last_to_leave_stops_it(
    settings_file: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "kafka"
    first, second = _user(settings_file, tmp_path / "a.ready"), _user(settings_file, tmp_path / "b.ready")
    try:
        _wait_for(lambda: _ready(tmp_path / "a.ready") and _ready(tmp_path / "b.ready"), "both processes ready")
        assert len(_brokers(data_dir)) == 1
        broker = _brokers(data_dir)[0]
        # Whichever of them started it, the broker outlives the first to leave while the other still uses it.
        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
        assert broker.is_running()
        assert asyncio.run(probe_metadata(_bootstrap(settings_file)))
        second.send_signal(signal.SIGTERM)
        assert second.wait(90) == 0
        _wait_for(lambda: not broker.is_running() or broker.status() == psutil.STATUS_ZOMBIE, "broker exit", 30)
        assert not (data_dir / "broker.pid").exists()
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()


def test_an_orphan_broker_is_found_adopted_and_stopped(settings_file: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    owner = _user(settings_file, tmp_path / "owner.ready")
    _wait_for(lambda: _ready(tmp_path / "owner.ready"), "the owner's broker ready")
    owner.send_signal(signal.SIGKILL)
    owner.wait(30)
    (broker,) = _brokers(data_dir)
    # The pid file names a dead process (as when a second start overwrote it): only a scan finds the broker.
    (data_dir / "broker.pid").write_text(f"{owner.pid}\n")
    status = _newsmon(settings_file, "broker", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert json.loads(status.stdout.strip().splitlines()[-1])["pid"] == broker.pid
    up = _newsmon(settings_file, "broker", "up")
    assert up.returncode == 0 and str(broker.pid) in up.stdout, up.stdout + up.stderr
    assert int((data_dir / "broker.pid").read_text().split()[0]) == broker.pid
    down = _newsmon(settings_file, "broker", "down")
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    _wait_for(lambda: not broker.is_running() or broker.status() == psutil.STATUS_ZOMBIE, "broker exit", 30)
    after = _newsmon(settings_file, "broker", "status")
    assert after.returncode == 1 and json.loads(after.stdout.strip().splitlines()[-1])["running"] is False
    assert not os.path.exists(data_dir / "broker.pid")


def test_a_pid_file_naming_another_live_process_is_stale_and_that_process_is_left_alone(
    settings_file: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "kafka"
    data_dir.mkdir()
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        (data_dir / "broker.pid").write_text(f"{bystander.pid}\n")
        status = _newsmon(settings_file, "broker", "status")
        assert json.loads(status.stdout.strip().splitlines()[-1])["running"] is False, status.stdout
        down = _newsmon(settings_file, "broker", "down")
        assert down.returncode == 0 and "no local broker" in down.stdout, down.stdout + down.stderr
        assert bystander.poll() is None
        assert not (data_dir / "broker.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()
