"""A tunable database instance: a server lifecycle plus safe configuration application, with an outcome.

An engine subclass supplies only what differs between servers (commands, file formats, its ``SqlDialect``).
Everything that makes an instance safe to tune lives here once: atomic config writes, reload-vs-restart,
read-back checks and restoring the last good configuration when a server rejects one. The process lifecycle is
``_lifecycle.ServerLifecycle``; what workloads say in SQL is ``_dialect.SqlDialect``.
"""

from __future__ import annotations

import abc
import enum
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from raytune.engines._dialect import SqlDialect
from raytune.engines._lifecycle import InstanceState, ServerLifecycle
from raytune.errors import ConfigRejectedError, EngineError, KnobError
from raytune.knobs import ApplyCost, Knob, KnobSpace, KnobType, KnobValue

logger = logging.getLogger(__name__)


class ApplyOutcome(enum.StrEnum):
    """How applying a configuration ended."""

    APPLIED = "applied"  # every value taken and read back
    REJECTED = "rejected"  # the running server refused a value, or did not take it
    CRASHED = "crashed"  # the server died or would not start with it


@dataclass(frozen=True)
class ApplyResult:
    """What applying a configuration did.

    Attributes:
        applied: Each knob's value as read back from the server, native units, as text (empty unless APPLIED).
        restarted: Whether a restart was needed.
        apply_s: Seconds spent writing the config and reloading (restart excluded).
        restart_s: Seconds spent restarting (0 when reloaded).
        outcome: APPLIED, REJECTED or CRASHED; the last good configuration is back in place unless APPLIED.
        error: One line naming the server's refusal, unless APPLIED.
        log_tail: The server log's last lines, unless APPLIED.
    """

    applied: dict[str, str]
    restarted: bool
    apply_s: float
    restart_s: float
    outcome: ApplyOutcome = ApplyOutcome.APPLIED
    error: str | None = None
    log_tail: str = ""


class EngineInstance(ServerLifecycle):
    """One tunable server of one engine.

    Subclasses implement the ``_``-prefixed abstract hooks; users call the lifecycle and :meth:`try_apply`
    (or :meth:`apply`, which raises). Instances bind 127.0.0.1 only.
    """

    sql: ClassVar[SqlDialect]  # what workloads and measurement say to this engine
    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()  # the DB-API driver's errors: server refusals
    statement_errors: ClassVar[tuple[type[Exception], ...]] = ()  # any error a statement can end with
    reload_is_async: ClassVar[bool] = False  # whether reloaded values appear only after a moment

    @property
    def dialect(self) -> str:
        """The sqlglot dialect queries are translated to for this server."""
        return self.sql.sqlglot

    def __init__(self, root: Path, *, bin_dir: Path | None = None, port: int | None = None) -> None:
        super().__init__(root, bin_dir=bin_dir, port=port)
        self._catalog: KnobSpace | None = None
        self._last_good: dict[str, str] = {}

    @property
    @abc.abstractmethod
    def config_path(self) -> Path:
        """The file the tuned knobs are written to."""

    @abc.abstractmethod
    def _render_config(self, values: Mapping[str, str]) -> str:
        """Configuration-file text setting ``values`` (native units) on top of the instance's fixed settings."""

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

    # ----- SQL the workload and measurement layers need, on a connection -------------------------------------------
    @abc.abstractmethod
    def create_database(self, name: str) -> None:
        """Creates database ``name`` if it does not exist."""

    @abc.abstractmethod
    def load_csv(self, conn: Any, table: str, path: Path, delimiter: str = "|", header: bool = False) -> None:
        """Bulk-loads a CSV file into ``table`` (``\\N`` = NULL)."""

    @abc.abstractmethod
    def metrics_snapshot(self, conn: Any, database: str) -> dict[str, object]:
        """Internal counters right now, keyed ``<source>.<counter>``."""

    def _recover(self) -> None:
        """Brings a dead or unresponsive server back with its last good configuration."""
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
        """Applies ``config`` like :meth:`try_apply`, raising when the server did not take it.

        Raises:
            KnobError: A knob the server does not have or cannot change (nothing was touched).
            ConfigRejectedError: The server refused it, would not start or did not take a value.
        """
        result = self.try_apply(config)
        if result.outcome is not ApplyOutcome.APPLIED:
            raise ConfigRejectedError(
                result.error or "rejected", result.log_tail, crashed=result.outcome is ApplyOutcome.CRASHED
            )
        return result

    def try_apply(self, config: Mapping[str, KnobValue]) -> ApplyResult:
        """Applies ``config`` (native units) on top of the server defaults, safely; the outcome says how it went.

        Writes the config durably, reloads or restarts only when needed, then reads every value back. When the
        server refuses a value (``REJECTED``) or dies or will not start with it (``CRASHED``), the previous good
        configuration is restored and the server is healthy again before this returns.

        Raises:
            KnobError: A knob the server does not have or cannot change (nothing was touched).
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
        except (
            EngineError,
            KnobError,
            OSError,
            *self.driver_errors,
        ) as exc:  # the server's refusal, not a bug
            log = self.log_tail()
            crashed = not self.answers()
            reason = (
                str(exc)
                if isinstance(exc, EngineError | KnobError | OSError)
                else f"{type(exc).__name__}: {exc}"
            )
            try:
                self._restore(previous)
            except EngineError as lost:  # it will not come back even with the last good config
                logger.warning("%s did not recover after a rejected configuration: %s", self.engine, lost)
                crashed = True  # left stopped: the next trial prepares the instance again from golden data
            outcome = ApplyOutcome.CRASHED if crashed else ApplyOutcome.REJECTED
            verb = "crashed under" if crashed else "rejected"
            message = f"{self.engine} {verb} the configuration: {reason}".splitlines()[0]
            elapsed = time.perf_counter() - t0
            return ApplyResult({}, needs_restart, elapsed, 0.0, outcome, message, log)
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
