"""Format, start, probe and stop a single-node KRaft broker+controller on the loopback interface."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psutil
from aiokafka.admin import AIOKafkaAdminClient

from monitor.broker.distribution import BrokerSetupError, check_java, ensure_distribution
from monitor.settings import KafkaSettings

_READY_LINE = "Kafka Server started"
# Who started a broker decides who stops it: `newsmon run` processes (the last to leave stops it) or `broker up`.
STARTED_BY_RUN = "run"
STARTED_BY_UP = "up"


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    reachable: bool


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a free TCP port (racy by nature, fine for tests)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        # A zombie child still answers kill(0); it is not a running broker.
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    return True


async def probe_metadata(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True when the cluster answers a metadata request."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except Exception:
        return False
    finally:
        await admin.close()


class LocalBroker:
    """A broker whose config, data, log and pid file all live under one data directory."""

    def __init__(self, settings: KafkaSettings, data_dir: Path | None = None) -> None:
        self.settings = settings
        self.data_dir = (data_dir or settings.data_dir).resolve()
        self.host = settings.host
        self.port = settings.port
        self.controller_port = settings.controller_port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def lock_file(self) -> Path:
        """Held exclusively while a process decides whether to start, attach to or stop the broker."""
        return self.data_dir / "broker.lock"

    @property
    def users_file(self) -> Path:
        """Every process using the broker holds a shared lock on it, so the last one out can tell it is last."""
        return self.data_dir / "broker.users"

    def _server_properties(self) -> str:
        h, p, c = self.host, self.port, self.controller_port
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{h}:{c}",
            "listeners": f"PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            "advertised.listeners": f"PLAINTEXT://{h}:{p}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            # The cleaner's default 128 MiB buffer would take a quarter of a small heap.
            "log.cleaner.dedupe.buffer.size": "33554432",
            "auto.create.topics.enable": "false",
        }
        if int(self.settings.version.split(".", 1)[0]) >= 4:
            props["share.coordinator.state.topic.replication.factor"] = "1"
            props["share.coordinator.state.topic.min.isr"] = "1"
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java_cmd(self, libs: Path, main: list[str]) -> list[str]:
        log4j = resources.files("monitor.broker").joinpath("log4j2.properties")
        return [
            "java",
            "-Xms256m",
            f"-Xmx{self.settings.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            f"{libs}/*",
            *main,
        ]

    def _cluster_id(self) -> str:
        path = self.data_dir / "cluster.id"
        if path.exists():
            return path.read_text().strip()
        cid = "-"
        # Kafka's own tool reads an id starting with '-' as an option, so draw again (1 in 64 ids).
        while cid.startswith("-"):
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        path.write_text(cid)
        return cid

    def status(self) -> BrokerStatus:
        pid = self.find_pid(repair=False)
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap=self.bootstrap,
            reachable=_port_open(self.host, self.port),
        )

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def started_by(self) -> str:
        """Who started the running broker, as recorded in the pid file (`run` or `up`)."""
        try:
            words = self.pid_file.read_text().split()
        except OSError:
            return ""
        return words[1] if len(words) > 1 else STARTED_BY_UP

    def _write_pid(self, pid: int, started_by: str) -> None:
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(f"{pid}\n{started_by}\n")
        tmp.replace(self.pid_file)

    def _is_ours(self, pid: int) -> bool:
        """True when pid is a live broker JVM running this data directory's config (not a reused pid)."""
        try:
            proc = psutil.Process(pid)
            return proc.status() != psutil.STATUS_ZOMBIE and self._names_our_config(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def _names_our_config(self, cmdline: list[str]) -> bool:
        return "kafka.Kafka" in cmdline and str(self.data_dir / "server.properties") in cmdline

    def _scan(self) -> int | None:
        """The pid of a broker JVM for this data directory found among all processes, for a lost pid file."""
        for proc in psutil.process_iter(["cmdline"]):
            if self._names_our_config(proc.info["cmdline"] or []) and self._is_ours(proc.pid):
                return proc.pid
        return None

    def find_pid(self, repair: bool = True) -> int | None:
        """The running broker's pid, by the pid file or else by a process scan; with repair, a stale file is fixed.

        Repair only under `decision_lock`, so it cannot race a process that is starting the broker.
        """
        recorded = self._read_pid()
        if recorded is not None and self._is_ours(recorded):
            return recorded
        pid = self._scan()
        if not repair:
            return pid
        if pid is not None:
            # An orphan whose owner died or whose pid file was overwritten: record it so every command sees it.
            self._write_pid(pid, self.started_by() or STARTED_BY_UP)
        elif recorded is not None:
            self.pid_file.unlink(missing_ok=True)
        return pid

    def adopt(self, pid: int) -> None:
        """Record that the running broker is now managed by `broker up`/`broker down`, not by `run` processes."""
        self._write_pid(pid, STARTED_BY_UP)

    @contextlib.contextmanager
    def decision_lock(self) -> Iterator[None]:
        """Serialise start, attach and stop decisions between processes sharing this data directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.lock_file.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def prepare(self) -> Path:
        """Check Java, fetch the jars, write the config and format storage; return the jar folder."""
        check_java()
        libs = ensure_distribution(self.settings.version, self.settings.dist_dir.resolve())
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(self._server_properties(), encoding="utf-8")
        fmt = self._java_cmd(
            libs,
            ["kafka.tools.StorageTool", "format", "-t", self._cluster_id(), "-c", str(config),
             "--ignore-formatted"],
        )  # fmt: skip
        proc = subprocess.run(fmt, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise BrokerSetupError(f"formatting Kafka storage failed:\n{(proc.stdout + proc.stderr)[-2000:]}")
        return libs

    def start(self, started_by: str = STARTED_BY_UP) -> None:
        """Start the broker in its own session (it outlives this process unless stopped)."""
        st = self.status()
        if st.running:
            raise BrokerSetupError(f"a local broker is already running (pid {st.pid}) on {self.bootstrap}")
        for port in (self.port, self.controller_port):
            if _port_open(self.host, port):
                raise BrokerSetupError(
                    f"port {self.host}:{port} is taken by another program; set kafka.port / "
                    "kafka.controller_port (NEWSMON_KAFKA_PORT, NEWSMON_KAFKA_CONTROLLER_PORT) to free ports"
                )
        libs = self.prepare()
        cmd = self._java_cmd(libs, ["kafka.Kafka", str(self.data_dir / "server.properties")])
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._write_pid(self._proc.pid, started_by)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no broker log)"

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until the broker answers metadata requests; raise with the log tail if it dies or stalls."""
        deadline = time.monotonic() + (timeout_s or self.settings.start_timeout_s)
        while time.monotonic() < deadline:
            pid = self._read_pid()
            if pid is None or not _pid_alive(pid):
                raise BrokerSetupError(f"the local broker exited during start-up:\n{self._log_tail()}")
            if _port_open(self.host, self.port) and await probe_metadata(self.bootstrap, 3.0):
                return
            await asyncio.sleep(0.3)
        raise BrokerSetupError(
            f"the local broker did not become ready within {timeout_s or self.settings.start_timeout_s:.0f}s:\n"
            f"{self._log_tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after timeout_s); False if none was running."""
        pid = self.find_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            if self._proc is None and not _pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait(10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL the broker, for crash tests."""
        pid = self._read_pid()
        if pid is not None and _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait(10)


class BrokerUse:
    """One process's use of the shared local broker: attach to a running one or start it, and leave it.

    A broker started by `newsmon run` is stopped by the last process using it when that one leaves; a broker
    started (or adopted) by `newsmon broker up` runs until `newsmon broker down`.
    """

    def __init__(self, broker: LocalBroker) -> None:
        self.broker = broker
        self._users: int | None = None

    def attach_or_start(self) -> bool:
        """Use the running broker or start one; True when this process started it."""
        b = self.broker
        with b.decision_lock():
            self._users = os.open(b.users_file, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._users, fcntl.LOCK_SH)
            if b.find_pid() is not None:
                return False
            b.start(STARTED_BY_RUN)
            return True

    def leave(self) -> bool:
        """Stop using the broker; stop it too when `run` started it and no other process uses it. True if stopped."""
        b = self.broker
        with b.decision_lock():
            if self._users is not None:
                os.close(self._users)
                self._users = None
            if b.started_by() != STARTED_BY_RUN or not self._nobody_else(b.users_file):
                return False
            return b.stop()

    @staticmethod
    def _nobody_else(users_file: Path) -> bool:
        fd = os.open(users_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
