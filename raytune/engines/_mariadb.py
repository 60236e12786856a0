"""MariaDB (MySQL family): ``mariadbd`` from Debian's mariadb-server by default, any install via ``bin_dir``."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pymysql

from raytune.engines._dialect import MariaDBDialect
from raytune.engines._instance import EngineInstance
from raytune.engines._process import run_as
from raytune.errors import EngineError
from raytune.knobs import ApplyCost, Knob, KnobSpace, KnobType, KnobValue

_TYPES = {
    "BOOLEAN": KnobType.BOOL,
    "INT": KnobType.INTEGER,
    "INT UNSIGNED": KnobType.INTEGER,
    "BIGINT": KnobType.INTEGER,
    "BIGINT UNSIGNED": KnobType.INTEGER,
    "DOUBLE": KnobType.REAL,
    "ENUM": KnobType.ENUM,
}
# Sizes in bytes; MariaDB reports no units, so they are recognised by name.
_BYTES = re.compile(r"(_size|_buffer_size|_cache_size|_capacity_bytes|query_cache_limit|max_allowed_packet)$")
_COUNTS = {
    "thread_cache_size",
    "host_cache_size",
    "innodb_purge_batch_size",
    "metadata_locks_cache_size",
    "innodb_page_size",
    "binlog_commit_wait_count",
    "innodb_undo_log_truncate_size",
}
# Read-only facts about the build or the host, not options: they cannot be set at all.
_FIXED = re.compile(
    r"^(have_.*|version_.*|innodb_version|protocol_version|license|hostname|system_time_zone|lower_case_file_system|in_predicate_conversion_threshold_unused)$"
)
_PINNED = {"port", "bind_address", "socket", "datadir", "pid_file", "log_error", "basedir"}


def _find(bin_dir: Path | None, name: str) -> Path | None:
    dirs = (
        [bin_dir, bin_dir.parent / "sbin", bin_dir.parent / "bin"]
        if bin_dir
        else [Path("/usr/sbin"), Path("/usr/bin")]
    )
    for d in dirs:
        if d and (d / name).exists():
            return d / name
    found = shutil.which(name) if bin_dir is None else None
    return Path(found) if found else None


class MariaDBInstance(EngineInstance):
    """A MariaDB server with its own data directory and generated my.cnf."""

    engine = "mariadb"
    server_binary = "mariadbd"
    sql = MariaDBDialect()
    driver_errors = (pymysql.err.OperationalError, pymysql.err.InternalError, pymysql.err.DataError)
    statement_errors = (pymysql.err.Error,)

    @classmethod
    def _resolve_bin_dir(cls, bin_dir: Path | None) -> Path:
        server = _find(bin_dir, "mariadbd")
        if server is None:
            where = bin_dir or "/usr/sbin"
            raise EngineError(
                f"no mariadbd in {where}; install Debian's mariadb-server (make install) or pass --bin-dir"
            )
        return server.parent

    @property
    def socket_path(self) -> Path:
        return self.paths.run / "mysqld.sock"

    @property
    def tmp_path(self) -> Path:
        """The server's own ``tmpdir``: a server starting up deletes every ``#sql*`` file in its tmpdir, so
        instances sharing /tmp would delete each other's on-disk temporary tables mid-query."""
        return self.paths.root / "tmp"

    def _make_dirs(self) -> None:
        super()._make_dirs()
        self.tmp_path.mkdir(mode=0o700, exist_ok=True)
        self.user.chown(self.tmp_path)

    def _init_data(self) -> None:
        tool = _find(None if self.bin_dir == Path("/usr/sbin") else self.bin_dir, "mariadb-install-db")
        if tool is None:
            raise EngineError(
                "no mariadb-install-db found; install Debian's mariadb-server or pass --bin-dir"
            )
        try:
            run_as(
                self.user,
                [
                    str(tool),
                    "--no-defaults",
                    f"--datadir={self.paths.data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
            )
        except subprocess.CalledProcessError as exc:
            raise EngineError(
                f"mariadb-install-db failed: {(exc.output or '').strip().splitlines()[-1:]}"
            ) from exc

    @property
    def config_path(self) -> Path:
        return self.paths.root / "my.cnf"

    def _render_config(self, values: Mapping[str, str]) -> str:
        base = {
            "datadir": self.paths.data,
            "bind-address": "127.0.0.1",
            "socket": self.socket_path,
            "tmpdir": self.tmp_path,
            "pid-file": self.paths.run / "mysqld.pid",
            "log-error": self.paths.log,
            "skip-name-resolve": "ON",
            "local-infile": "ON",
        }
        lines = ["[mariadbd]"] + [f"{k}={v}" for k, v in base.items()] + ["# knobs set by knobray"]
        lines += [f"{name}={value}" for name, value in values.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def config_file_text(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> str:
        lines = ["# my.cnf settings found by knobray", "[mariadbd]"]
        lines += [f"{n}={catalog[n].render(v) if n in catalog else v}" for n, v in values.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def config_sql(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> list[str]:
        stmts, restart = [], []
        for n, v in values.items():
            text = catalog[n].render(v) if n in catalog else str(v)
            if n in catalog and catalog[n].cost is ApplyCost.RESTART:
                restart.append(n)
            else:
                stmts.append(f"SET GLOBAL {n} = {text if re.fullmatch(r'-?[0-9.]+', text) else repr(text)};")
        if restart:
            stmts.append(f"-- read-only: put {', '.join(restart)} in my.cnf and restart")
        return stmts

    def _server_command(self) -> list[str]:
        # The port goes on the command line, not in my.cnf: start() may move it without rewriting the knobs.
        return [str(self.bin_dir / "mariadbd"), f"--defaults-file={self.config_path}", f"--port={self.port}"]

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user="root",
            database=database,
            autocommit=True,
            local_infile=True,
            connect_timeout=5,
        )

    def _introspect(self, conn: Any) -> KnobSpace:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT LOWER(VARIABLE_NAME), VARIABLE_TYPE, NUMERIC_MIN_VALUE, NUMERIC_MAX_VALUE, NUMERIC_BLOCK_SIZE, "
                "ENUM_VALUE_LIST, READ_ONLY, DEFAULT_VALUE, VARIABLE_COMMENT FROM information_schema.SYSTEM_VARIABLES"
            )
            rows = cur.fetchall()
        knobs = []
        for name, vtype, lo, hi, block, enums, read_only, default, comment in rows:
            if name in _PINNED:
                continue
            kind = _TYPES.get(vtype, KnobType.STRING)
            if kind is KnobType.ENUM and not enums:
                kind = KnobType.STRING
            numeric = kind in (KnobType.INTEGER, KnobType.REAL)
            value: Any = default
            if numeric:
                value = _number(default, kind)
            elif kind is KnobType.BOOL and default is not None:
                value = "on" if str(default).upper() in ("ON", "1", "TRUE") else "off"
            unit = "B" if kind is KnobType.INTEGER and _BYTES.search(name) and name not in _COUNTS else None
            step = float(block) if numeric and block and float(block) > 1 else None
            knobs.append(
                Knob(
                    name=name,
                    type=kind,
                    default=value,
                    lower=float(lo) if numeric and lo is not None else None,
                    upper=float(hi) if numeric and hi is not None else None,
                    choices=tuple(enums.split(",")) if kind is KnobType.ENUM and enums else (),
                    unit=unit,
                    step=step,
                    cost=ApplyCost.FIXED
                    if _FIXED.match(name)
                    else ApplyCost.RESTART
                    if read_only == "YES"
                    else ApplyCost.RELOAD,
                    description=comment or "",
                )
            )
        return KnobSpace(self.engine, tuple(knobs))

    def _read_values(self, conn: Any, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        with conn.cursor() as cur:
            marks = ",".join(["%s"] * len(names))
            cur.execute(
                f"SELECT LOWER(VARIABLE_NAME), GLOBAL_VALUE FROM information_schema.SYSTEM_VARIABLES "
                f"WHERE VARIABLE_NAME IN ({marks})",
                [n.upper() for n in names],
            )
            return {name: "" if value is None else str(value) for name, value in cur.fetchall()}

    def _reload(self, conn: Any, values: Mapping[str, str]) -> None:
        with conn.cursor() as cur:
            for name, value in values.items():
                if value == "":
                    cur.execute(f"SET GLOBAL {name} = DEFAULT")
                elif re.fullmatch(r"-?\d+(\.\d+)?", value):
                    cur.execute(f"SET GLOBAL {name} = {value}")
                else:
                    cur.execute(f"SET GLOBAL {name} = %s", (value,))

    def server_version(self) -> str:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            return str(cur.fetchone()[0])

    # ----- workload support ------------------------------------------------------------------------------------
    def create_database(self, name: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")

    def load_csv(self, conn: Any, table: str, path: Path, delimiter: str = "|", header: bool = False) -> None:
        """Bulk-loads a CSV file (``\\N`` = NULL) with LOAD DATA LOCAL INFILE."""
        skip = " IGNORE 1 LINES" if header else ""
        with conn.cursor() as cur:
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {table} FIELDS TERMINATED BY %s OPTIONALLY ENCLOSED BY '\"'{skip}",
                (str(path), delimiter),
            )

    def metrics_snapshot(self, conn: Any, database: str) -> dict[str, object]:
        """Every numeric counter of SHOW GLOBAL STATUS."""
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS")
            out: dict[str, object] = {}
            for name, value in cur.fetchall():
                try:
                    out[f"status.{name.lower()}"] = float(value)
                except (TypeError, ValueError):
                    continue
        return out


def _number(text: Any, kind: KnobType) -> int | float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if kind is KnobType.INTEGER else value
