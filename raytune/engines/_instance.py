"""The engine-independent half of a database instance: lifecycle, safe config application, recovery.

An engine subclass supplies only what differs between servers (commands, SQL, file formats). Everything that
makes an instance safe to tune lives here once: atomic config writes, reload-vs-restart, read-back checks and
restoring the last good configuration when a server rejects one.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from raytune.engines._ports import free_port, port_is_taken
from raytune.engines._process import ServerProcess
from raytune.engines._sysuser import ServiceUser, check_reachable, service_user
from raytune.errors import ConfigRejectedError, EngineError, KnobError
from raytune.knobs import ApplyCost, Knob, KnobSpace, KnobType, KnobValue
from raytune.lifetime import write_owner

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0


class InstanceState(enum.StrEnum):
    NEW = "new"
    STOPPED = "stopped"
    RUNNING = "running"


@dataclass(frozen=True)
class ApplyResult:
    """What applying a configuration did.

    Attributes:
        applied: Each knob's value as read back from the server, native units, as text.
        restarted: Whether a restart was needed.
        apply_s: Seconds spent writing the config and reloading (restart excluded).
        restart_s: Seconds spent restarting (0 when reloaded).
    """

    applied: dict[str, str]
    restarted: bool
    apply_s: float
    restart_s: float


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


class EngineInstance(abc.ABC):
    """One server of one engine: its own data dir, loopback port, socket dir and log.

    Subclasses implement the ``_``-prefixed abstract hooks; users call the public lifecycle and
    :meth:`apply`. Instances bind 127.0.0.1 only.
    """

    engine: ClassVar[str]
    dialect: ClassVar[str]  # sqlglot dialect of the server
    server_binary: ClassVar[str]  # the server executable's name in ``bin_dir``
    stop_signal: ClassVar[int] = signal.SIGTERM
    reload_is_async: ClassVar[bool] = False  # whether reloaded values appear only after a moment

    def __init__(self, root: Path, *, bin_dir: Path | None = None, port: int | None = None) -> None:
        self.paths = InstancePaths(Path(root).resolve())
        self.bin_dir = self._resolve_bin_dir(bin_dir)
        self.port = port or free_port()
        self._port_chosen = port is None  # ours to change if another process takes it
        self.user: ServiceUser = service_user()
        self._process: ServerProcess | None = None
        self._catalog: KnobSpace | None = None
        self._last_good: dict[str, str] = {}
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

    @property
    @abc.abstractmethod
    def config_path(self) -> Path:
        """The file the tuned knobs are written to."""

    @abc.abstractmethod
    def _render_config(self, values: Mapping[str, str]) -> str:
        """Configuration-file text setting ``values`` (native units) on top of the instance's fixed settings."""

    @abc.abstractmethod
    def connect(self, database: str | None = None) -> Any:
        """An autocommit DB-API connection as the instance's superuser."""

    @abc.abstractmethod
    def _introspect(self, conn: Any) -> KnobSpace:
        """Every knob the running server has, with server bounds, units and apply cost."""

    @abc.abstractmethod
    def _read_values(self, conn: Any, names: list[str]) -> dict[str, str]:
        """Current values of ``names`` in native units as text."""

    @abc.abstractmethod
    def _reload(self, conn: Any, values: Mapping[str, str]) -> None:
        """Makes reloadable ``values`` take effect without a restart (the file is already written)."""

    @classmethod
    @abc.abstractmethod
    def config_file_text(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> str:
        """Ready-to-apply configuration-file text setting ``values`` (native units) on a user's server."""

    @classmethod
    @abc.abstractmethod
    def config_sql(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> list[str]:
        """Ready-to-run SQL statements applying ``values`` on a user's server (restart needs noted)."""

    @abc.abstractmethod
    def server_version(self) -> str:
        """The server's version string."""

    # ----- SQL the workload and measurement layers need, per engine ---------------------------------------------
    @abc.abstractmethod
    def create_database(self, name: str) -> None:
        """Creates database ``name`` if it does not exist."""

    @abc.abstractmethod
    def load_csv(self, conn: Any, table: str, path: Path, delimiter: str = "|", header: bool = False) -> None:
        """Bulk-loads a CSV file into ``table`` (``\\N`` = NULL)."""

    @abc.abstractmethod
    def analyze_sql(self, table: str) -> str:
        """The statement that gathers optimizer statistics of ``table``."""

    @abc.abstractmethod
    def statement_timeout_sql(self, seconds: float) -> str:
        """The statement that limits each statement of a session to ``seconds``."""

    @abc.abstractmethod
    def explain_sql(self, query: str) -> str:
        """The statement that returns ``query``'s plan as JSON."""

    @abc.abstractmethod
    def is_timeout_error(self, exc: Exception) -> bool:
        """Whether a driver error means the statement timeout fired."""

    @abc.abstractmethod
    def metrics_snapshot(self, conn: Any, database: str) -> dict[str, object]:
        """Internal counters right now, keyed ``<source>.<counter>``."""

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

    def clone_from(self, golden_data: Path) -> None:
        """Replaces this instance's data with a copy of ``golden_data`` and resets the config to defaults."""
        self.stop()
        self._make_dirs()
        if self.paths.data.exists():
            shutil.rmtree(self.paths.data)
        shutil.copytree(golden_data, self.paths.data, symlinks=True)
        self.user.chown(self.paths.data, recursive=True)
        os.chmod(self.paths.data, 0o700)
        self._last_good = {}
        self._write_config({})
        self.state = InstanceState.STOPPED

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

    def ensure_healthy(self) -> None:
        """Restarts the server with its last good config if it died or stopped answering."""
        if self.running:
            try:
                with self.connect() as conn:
                    conn.cursor().execute("SELECT 1")
                return
            except Exception:  # noqa: BLE001
                logger.warning(
                    "%s instance on port %d stopped answering; restarting it", self.engine, self.port
                )
        self._recover()

    def _recover(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None
        self.state = InstanceState.STOPPED
        self._write_config(self._last_good)
        try:
            self.start()
        except EngineError as exc:
            raise EngineError(
                f"{self.engine} instance at {self.paths.root} did not come back with its last good config: {exc}"
            ) from exc

    def destroy(self) -> None:
        """Stops the server and deletes the instance's directory."""
        self.stop()
        shutil.rmtree(self.paths.root, ignore_errors=True)
        shutil.rmtree(self.paths.run, ignore_errors=True)
        self.state = InstanceState.NEW

    def __enter__(self) -> EngineInstance:
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

    # ----- knobs and configurations -------------------------------------------------------------------------
    def catalog(self) -> KnobSpace:
        """Every knob of the running server (introspected once per instance)."""
        if self._catalog is None:
            with self.connect() as conn:
                self._catalog = self._introspect(conn)
        return self._catalog

    def current_config(self) -> dict[str, str]:
        """The knobs this instance runs with beyond its defaults (its last good configuration)."""
        return dict(self._last_good)

    def apply(self, config: Mapping[str, KnobValue]) -> ApplyResult:
        """Applies ``config`` (native units) on top of the server defaults, safely.

        Writes the config durably, reloads or restarts only when needed, then reads every value back.
        On any failure the previous good configuration is restored and the server is healthy again.

        Raises:
            KnobError: A knob the server does not have or cannot change (nothing was touched).
            ConfigRejectedError: The server refused it, would not start or did not take a value.
        """
        if not self.running:
            self.start()
        catalog = self.catalog()
        rendered: dict[str, str] = {}
        for name, value in config.items():
            if name not in catalog:
                raise KnobError(
                    f"unknown knob {name!r} for {self.engine} {self.server_version()}; check the spelling"
                )
            knob = catalog[name]
            if knob.cost is ApplyCost.FIXED:
                raise KnobError(f"knob {name} cannot be changed on {self.engine}; remove it from the config")
            rendered[name] = knob.render(value)
        previous = self._last_good
        changed = {k for k in set(rendered) | set(previous) if rendered.get(k) != previous.get(k)}
        needs_restart = any(catalog[k].cost is ApplyCost.RESTART for k in changed if k in catalog)
        t0 = time.perf_counter()
        restart_s = 0.0
        try:
            self._write_config(rendered)
            if needs_restart:
                t1 = time.perf_counter()
                self.restart()
                restart_s = time.perf_counter() - t1
            else:
                with self.connect() as conn:
                    # Knobs dropped from the config return to their defaults.
                    reset = {k: _default_text(catalog[k]) for k in changed if k not in rendered}
                    self._reload(conn, {**reset, **{k: rendered[k] for k in changed if k in rendered}})
            applied = self._check_read_back(
                rendered, catalog, wait=self.reload_is_async and not needs_restart
            )
        except Exception as exc:  # refused by the server, or a driver error during reload or read-back
            log = self.log_tail()
            crashed = not self.running
            reason = (
                str(exc)
                if isinstance(exc, EngineError | KnobError | OSError)
                else f"{type(exc).__name__}: {exc}"
            )
            self._restore(previous)
            verb = "crashed under" if crashed else "rejected"
            raise ConfigRejectedError(
                f"{self.engine} {verb} the configuration: {reason}", log, crashed=crashed
            ) from exc
        self._last_good = rendered
        return ApplyResult(applied, needs_restart, time.perf_counter() - t0 - restart_s, restart_s)

    def reset(self) -> ApplyResult:
        """Returns every knob to the server default."""
        return self.apply({})

    def _restore(self, previous: dict[str, str]) -> None:
        logger.warning("%s on port %d: restoring last good configuration", self.engine, self.port)
        self._last_good = previous
        self._recover()

    def _check_read_back(self, rendered: Mapping[str, str], catalog: KnobSpace, wait: bool) -> dict[str, str]:
        deadline = time.monotonic() + (2.0 if wait else 0.0)
        while True:
            with self.connect() as conn:
                actual = self._read_values(conn, list(rendered))
            wrong = {k: v for k, v in rendered.items() if not _same_value(catalog[k], v, actual.get(k))}
            if not wrong:
                return actual
            if time.monotonic() > deadline:
                name, want = next(iter(wrong.items()))
                raise EngineError(f"server did not take {name}={want} (it reports {actual.get(name)!r})")
            time.sleep(0.05)  # a reload is asynchronous: give the server a moment

    def _write_config(self, values: Mapping[str, str]) -> None:
        path = self.config_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(self._render_config(values))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        self.user.chown(tmp)
        os.replace(tmp, path)


def _default_text(knob: Knob) -> str:
    return knob.render(knob.default) if knob.default is not None else ""


def _same_value(knob: Knob, wanted: str, actual: str | None) -> bool:
    """Whether the server took ``wanted`` (allowing the rounding to ``knob.step`` servers do)."""
    if actual is None:
        return False
    if knob.type is KnobType.BOOL:
        truthy = {"on", "true", "1", "yes"}
        return (wanted.lower() in truthy) == (actual.lower() in truthy)
    if knob.numeric:
        try:
            w, a = float(wanted), float(actual)
        except ValueError:
            return False
        # Servers round to their step and print a fixed number of decimals (MariaDB: 6 for doubles).
        decimals = len(actual.strip().partition(".")[2]) if "." in actual and "e" not in actual.lower() else 0
        shown = 0.5 * 10.0**-decimals if decimals else 0.0
        tolerance = max(abs(w) * 1e-5, 1e-9, (knob.step or 0.0), shown * 1.000001)
        return abs(w - a) <= tolerance
    return wanted.strip().strip("'").lower() == actual.strip().lower()
