"""The lifecycle of a database server process: directories, start and readiness, stop, crash recovery, logs.

An embedded engine without a server process implements the same interface with nothing to start. Servers run
as the service user, bind 127.0.0.1 only, die with the process that started them, and record that owner so a
later owner can sweep what a dead one left behind (``raytune.lifetime``).
"""

from __future__ import annotations

import abc
import enum
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from raytune.engines._ports import free_port, port_is_taken
from raytune.engines._process import ServerProcess
from raytune.engines._sysuser import ServiceUser, check_reachable, service_user
from raytune.errors import EngineError
from raytune.lifetime import write_owner

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0


class InstanceState(enum.StrEnum):
    NEW = "new"
    STOPPED = "stopped"
    RUNNING = "running"


@dataclass
class InstancePaths:
    """Where an instance keeps its things, all below one root directory."""

    root: Path
    data: Path = field(init=False)
    run: Path = field(init=False)
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.data = self.root / "data"
        # Unix socket paths are limited to 107 bytes: sockets live in a short per-instance dir under /tmp.
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        self.run = Path(tempfile.gettempdir()) / f"knobray-{os.getuid()}" / digest
        self.log = self.root / "server.log"


class ServerLifecycle(abc.ABC):
    """One server process of one engine: its own data dir, loopback port, socket dir and log.

    Subclasses supply the ``_``-prefixed hooks, the configuration file (``_write_config``) and the recovery
    with the last good configuration (``_recover``).
    """

    engine: ClassVar[str]
    server_binary: ClassVar[str]  # the server executable's name in ``bin_dir``
    embedded: ClassVar[bool] = False  # runs inside the trial's process: no server, no port
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, root: Path, *, bin_dir: Path | None = None, port: int | None = None) -> None:
        self.paths = InstancePaths(Path(root).resolve())
        self.bin_dir = self._resolve_bin_dir(bin_dir)
        self.port = port or free_port()
        self._port_chosen = port is None  # ours to change if another process takes it
        self.user: ServiceUser = service_user()
        self._process: ServerProcess | None = None
        self._log_offset = 0
        self.state = InstanceState.STOPPED if self.paths.data.exists() else InstanceState.NEW

    @classmethod
    def binary_version(cls, bin_dir: Path | None = None) -> str:
        """The server binary's ``--version`` line, without starting anything."""
        binary = cls._resolve_bin_dir(bin_dir) / cls.server_binary
        proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
        return (proc.stdout.strip() or proc.stderr.strip()).splitlines()[0]

    # ----- engine hooks -------------------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def _resolve_bin_dir(cls, bin_dir: Path | None) -> Path:
        """Finds the server binaries (default install when ``bin_dir`` is None)."""

    @abc.abstractmethod
    def _init_data(self) -> None:
        """Creates an empty cluster in ``paths.data`` (runs as the service user)."""

    @abc.abstractmethod
    def _server_command(self) -> list[str]:
        """The foreground server command line."""

    @abc.abstractmethod
    def connect(self, database: str | None = None) -> Any:
        """An autocommit DB-API connection as the instance's superuser."""

    @abc.abstractmethod
    def _write_config(self, values: dict[str, str]) -> None:
        """Writes the configuration file with ``values`` (native units), durably."""

    @abc.abstractmethod
    def _recover(self) -> None:
        """Brings a dead or unresponsive server back with its last good configuration."""

    # ----- lifecycle ----------------------------------------------------------------------------------------
    def init(self) -> None:
        """Creates the instance's directories and an empty database cluster."""
        if self.state is not InstanceState.NEW:
            return
        self._make_dirs()
        self._init_data()
        self._write_config({})
        self.state = InstanceState.STOPPED

    def _make_dirs(self) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.paths.root, 0o755)
        check_reachable(self.user, self.paths.root)
        self.paths.run.parent.mkdir(exist_ok=True)
        os.chmod(self.paths.run.parent, 0o755)
        self.paths.run.mkdir(exist_ok=True)
        self.paths.log.touch()
        for p in (self.paths.root, self.paths.run, self.paths.log):
            self.user.chown(p)
        write_owner(self.paths.root, None)  # claimed before any data is copied in: a dead owner's is swept

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Starts the server and waits until it answers.

        Raises:
            EngineError: If it exits or does not answer within ``timeout`` (log tail in the message).
        """
        if self.state is InstanceState.NEW:
            self.init()
        if self.running:
            return
        try:
            self._launch(timeout)
        except EngineError as exc:
            # Between a stop and a start the port is free for anyone; a port we chose is moved, a user's is not.
            if not port_is_taken(self.port):
                raise
            if not self._port_chosen:
                raise EngineError(
                    f"{self.engine} cannot start: port {self.port} on 127.0.0.1 is in use by another process; "
                    "free it, or give another port (or none, to let knobray pick one)"
                ) from exc
            taken, self.port = self.port, free_port()
            logger.warning(
                "%s: port %d was taken by another process; starting on port %d", self.engine, taken, self.port
            )
            self._launch(timeout)
        self.state = InstanceState.RUNNING

    def _launch(self, timeout: float) -> None:
        self._log_offset = self.paths.log.stat().st_size if self.paths.log.exists() else 0
        self._process = ServerProcess(self._server_command(), self.user, self.paths.log, self._server_env())
        self._process.start()
        write_owner(self.paths.root, self._process.pid)
        self._wait_ready(timeout)

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        env.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        env["HOME"] = str(self.paths.root)
        return env

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self._process.alive():
                code = self._process.exit_code()
                self._process = None
                raise EngineError(
                    f"{self.engine} server exited with code {code} during start-up: {self.last_log_line()}"
                )
            try:
                with self.connect() as conn:
                    conn.cursor().execute("SELECT 1")
                return
            except Exception as exc:  # noqa: BLE001 - any connection failure means "not ready yet"
                last_error = exc
                time.sleep(0.05)
        self._process.kill()
        self._process = None
        raise EngineError(
            f"{self.engine} server did not answer within {timeout:.0f}s ({last_error}); see {self.paths.log}"
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.alive()

    def stop(self) -> None:
        """Stops the server cleanly (killing it if it does not stop)."""
        if self._process is not None:
            self._process.stop(self.stop_signal)
            self._process = None
        if self.state is InstanceState.RUNNING:
            self.state = InstanceState.STOPPED

    def restart(self, timeout: float = READY_TIMEOUT_S) -> float:
        """Stops and starts the server; returns the seconds it took."""
        t0 = time.perf_counter()
        self.stop()
        self.start(timeout)
        return time.perf_counter() - t0

    def kill(self) -> None:
        """Kills the server with SIGKILL, as a crash would."""
        if self._process is not None:
            self._process.kill()

    def answers(self) -> bool:
        """Whether the server process is alive and answers a query. After a failure, its socket may close a
        moment before its exit can be seen, so the process check alone could take a crash for a refusal."""
        if not self.running:
            return False
        try:
            with self.connect() as conn:
                conn.cursor().execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure to answer means it is not up
            return False
        return self.running

    def ensure_healthy(self) -> None:
        """Restarts the server with its last good config if it died or stopped answering."""
        if self.answers():
            return
        if self.running:
            logger.warning("%s instance on port %d stopped answering; restarting it", self.engine, self.port)
        self._recover()

    def destroy(self) -> None:
        """Stops the server and deletes the instance's directory."""
        self.stop()
        shutil.rmtree(self.paths.root, ignore_errors=True)
        shutil.rmtree(self.paths.run, ignore_errors=True)
        self.state = InstanceState.NEW

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def last_log_line(self) -> str:
        """The first error the server logged since its last start (else its last line)."""
        lines = [ln for ln in self.log_since_start().splitlines() if ln.strip()]
        errors = [ln for ln in lines if any(w in ln for w in ("FATAL", "PANIC", "[ERROR]", "ERROR:"))]
        return (errors[:1] or lines[-1:] or ["(empty log)"])[0].strip()

    def log_since_start(self, limit: int = 65536) -> str:
        """What the server logged since it was last started (at most ``limit`` bytes, the latest)."""
        try:
            with open(self.paths.log, "rb") as fh:
                fh.seek(max(self._log_offset, fh.seek(0, os.SEEK_END) - limit))
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server logged since its last start."""
        return "\n".join(self.log_since_start().splitlines()[-lines:])
