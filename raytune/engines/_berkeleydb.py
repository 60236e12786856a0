"""Berkeley DB: an embedded engine (no server process) through the ``berkeleydb`` bindings and Debian's libdb.

An instance is a transactional environment in ``paths.data`` holding one B-tree database, ``items.db``. Opening
the environment is its "start", closing it its "stop"; the knobs are the four of Sullivan's thesis:

- ``page_size`` and ``min_keys`` fix the database's layout. A change rebuilds the file in key order with the new
  layout (what ``db_load -c db_pagesize=... -c bt_minkey=...`` does); their read-back comes from the database's
  own statistics (``DB->stat``).
- ``deadlock_policy`` is the environment's deadlock detector (``set_lk_detect``), fixed while it is open.
- ``db_rmw`` makes reads of items that may be updated take a write lock (``DB_RMW``), a flag on each call that the
  instance holds for its workload.

The environment is private to the process (``DB_PRIVATE``; calls release the GIL, so threads run concurrently),
commits write the log without syncing it (``DB_TXN_WRITE_NOSYNC``), and the cache size comes from the workload.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from raytune.engines._dialect import SqlDialect
from raytune.engines._instance import EngineInstance
from raytune.engines._lifecycle import InstanceState
from raytune.errors import EngineError, KnobError
from raytune.knobs import KnobSpace, KnobValue, load_catalog
from raytune.lifetime import write_owner

logger = logging.getLogger(__name__)

DB_FILE = "items.db"
CONFIG_FILE = "knobs.json"
DEFAULT_CACHE_BYTES = 4 * 1024 * 1024
MAX_LOCKS = 200_000  # lock table sizes: the thesis's 4,000 runs out with 100 threads holding cursor locks
LOCK_TIMEOUT_US = (
    10_000_000  # a lock wait past 10 s ends like a deadlock (the workload retries the transaction)
)
POLICIES = (
    "default",
    "expire",
    "maxlocks",
    "maxwrite",
    "minlocks",
    "minwrite",
    "oldest",
    "random",
    "youngest",
)


def _bdb() -> Any:
    try:
        from berkeleydb import db
    except ImportError as exc:  # the wheel is built from source against libdb
        raise EngineError(
            f"the berkeleydb bindings are not installed ({exc}); run make install (needs Debian's libdb5.3-dev)"
        ) from None
    return db


def _message(exc: BaseException) -> str:
    """A Berkeley DB error's text without its error number."""
    return str(exc.args[-1]) if exc.args else type(exc).__name__


def _policy_flag(db: Any, policy: str) -> int:
    return int(getattr(db, f"DB_LOCK_{policy.upper()}"))


def _policy_name(db: Any, flag: int) -> str:
    return next((p for p in POLICIES if _policy_flag(db, p) == flag), str(flag))


class KeyValueDialect(SqlDialect):
    """Berkeley DB speaks no SQL: workloads that need it are refused before any instance starts."""

    sqlglot = ""
    double_type = ""

    def _no_sql(self) -> str:
        raise EngineError("berkeleydb is a key-value store without SQL; use --workload dbperf")

    def analyze(self, table: str) -> str:
        return self._no_sql()

    def statement_timeout(self, seconds: float) -> str:
        return self._no_sql()

    def explain_json(self, query: str) -> str:
        return self._no_sql()

    def is_timeout_error(self, exc: Exception) -> bool:
        return False

    def sysbench_connection(self, instance: EngineInstance, database: str) -> list[str]:
        return [self._no_sql()]


@dataclass(frozen=True)
class Layout:
    """A B-tree database's layout knobs."""

    page_size: int
    min_keys: int

    @classmethod
    def of(cls, values: Mapping[str, str]) -> Layout:
        return cls(int(values.get("page_size", 8192)), int(values.get("min_keys", 2)))


class BerkeleyDBHandle:
    """The open environment and database of an instance, as its "connection"; closing it closes nothing."""

    def __init__(self, instance: BerkeleyDBInstance) -> None:
        if instance.env is None or instance.db is None:
            raise EngineError("berkeleydb environment is not open; start the instance first")
        self.env, self.db, self.rmw = instance.env, instance.db, instance.rmw

    def __enter__(self) -> BerkeleyDBHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class BerkeleyDBInstance(EngineInstance):
    """One Berkeley DB environment (see the module docstring)."""

    engine = "berkeleydb"
    server_binary = ""
    embedded = True
    sql: ClassVar[SqlDialect] = KeyValueDialect()

    def __init__(self, root: Path, *, bin_dir: Path | None = None, port: int | None = None) -> None:
        super().__init__(root, bin_dir=bin_dir, port=port)
        self.env: Any = None
        self.db: Any = None
        self.rmw = False
        self.cache_bytes = DEFAULT_CACHE_BYTES
        self.driver_errors = (_bdb().DBError,)

    # ----- what differs from a server: no binary, no process -------------------------------------------------
    @classmethod
    def _resolve_bin_dir(cls, bin_dir: Path | None) -> Path:
        return Path(_bdb().__file__).parent

    @classmethod
    def binary_version(cls, bin_dir: Path | None = None) -> str:
        return str(_bdb().DB_VERSION_STRING)

    def _init_data(self) -> None:
        self.paths.data.mkdir(parents=True, exist_ok=True)

    def _make_dirs(self) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.paths.log.touch()
        write_owner(self.paths.root, None)  # a dead owner's directory is swept

    def _server_command(self) -> list[str]:
        raise EngineError("berkeleydb is embedded: there is no server command")

    @property
    def running(self) -> bool:
        return self.env is not None

    def start(self, timeout: float = 0.0) -> None:
        """Opens the environment and the database with the configured knobs (rebuilding the database when its
        layout differs)."""
        if self.state is InstanceState.NEW:
            self.init()
        if self.running:
            return
        db = _bdb()
        values = self._configured()
        self._log_offset = self.paths.log.stat().st_size if self.paths.log.exists() else 0
        env = handle = None
        try:
            self._ensure_layout(Layout.of(values))
            settings = self.env_settings(values)
            env = db.DBEnv()
            env.set_cachesize(0, settings["cache_bytes"], 1)
            env.set_lk_detect(settings["detect"])
            for setter in (env.set_lk_max_locks, env.set_lk_max_objects, env.set_lk_max_lockers):
                setter(settings["max_locks"])
            env.set_timeout(settings["lock_timeout_us"], db.DB_SET_LOCK_TIMEOUT)
            env.set_flags(db.DB_TXN_WRITE_NOSYNC, 1)
            env.open(str(self.paths.data), self._env_flags(db))
            handle = db.DB(env)
            handle.open(DB_FILE, dbtype=db.DB_BTREE, flags=db.DB_THREAD | db.DB_AUTO_COMMIT)
        except db.DBError as exc:
            for opened in (handle, env):
                if opened is not None:
                    opened.close()
            self._log(f"ERROR: open failed: {_message(exc)}")
            raise EngineError(f"berkeleydb could not open {self.paths.data}: {_message(exc)}") from None
        self.env, self.db = env, handle
        self.rmw = values.get("db_rmw", "off") in ("on", "true", "1")
        self.state = InstanceState.RUNNING
        self._log(f"opened with {values or 'the defaults'}")

    def env_settings(self, values: Mapping[str, str] | None = None) -> dict[str, Any]:
        """How the environment opens (from the configured knobs unless ``values`` are given): what
        :meth:`start` sets, and what a native client that opens the environment itself is told."""
        values = self._configured() if values is None else values
        return {
            "home": str(self.paths.data),
            "file": DB_FILE,
            "cache_bytes": self.cache_bytes,
            "detect": _policy_flag(_bdb(), values.get("deadlock_policy", "random")),
            "max_locks": MAX_LOCKS,
            "lock_timeout_us": LOCK_TIMEOUT_US,
        }

    @contextmanager
    def released(self) -> Iterator[dict[str, Any]]:
        """Closes the environment for another process to open with the settings yielded (a private environment
        has one process), and reopens it afterwards."""
        settings = self.env_settings()
        try:
            self.stop()
            yield settings
        except BaseException:
            try:
                self.start()
            except EngineError:  # the first error is the one to report
                logger.exception("berkeleydb could not reopen %s", self.paths.data)
            raise
        self.start()

    @staticmethod
    def _env_flags(db: Any) -> int:
        return (
            db.DB_CREATE
            | db.DB_PRIVATE
            | db.DB_THREAD
            | db.DB_INIT_MPOOL
            | db.DB_INIT_LOCK
            | db.DB_INIT_LOG
            | db.DB_INIT_TXN
        )

    def stop(self) -> None:
        """Closes the database and the environment (a private environment's regions go with it).

        Raises:
            EngineError: Berkeley DB failed to close them (both handles are dropped all the same).
        """
        db, env = self.db, self.env
        self.db = self.env = None
        if self.state is InstanceState.RUNNING:
            self.state = InstanceState.STOPPED
        try:
            if db is not None:
                db.close()
            if env is not None:
                env.lsn_reset(DB_FILE)  # the file no longer refers to this environment's log
        except _bdb().DBError as exc:
            raise EngineError(f"berkeleydb could not close {self.paths.data}: {_message(exc)}") from None
        finally:
            if env is not None:
                env.close()
                self._log("closed")

    def kill(self) -> None:
        self.stop()

    def answers(self) -> bool:
        if self.db is None:
            return False
        try:
            self.db.stat(flags=_bdb().DB_FAST_STAT)
        except _bdb().DBError:
            return False
        return True

    def connect(self, database: str | None = None) -> BerkeleyDBHandle:
        return BerkeleyDBHandle(self)

    def _recover(self) -> None:
        self.stop()
        self._write_config(self._last_good)
        self.start()

    def clone_from(self, golden_data: Path) -> None:
        """Replaces the environment's files with a copy of ``golden_data`` and resets the knobs to defaults."""
        self.stop()
        self._make_dirs()
        shutil.rmtree(self.paths.data, ignore_errors=True)
        shutil.copytree(golden_data, self.paths.data)
        self._last_good = {}
        self._write_config({})
        self.state = InstanceState.STOPPED

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.paths.root, ignore_errors=True)
        self.state = InstanceState.NEW

    def _log(self, line: str) -> None:
        with open(self.paths.log, "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    # ----- layout ------------------------------------------------------------------------------------------
    def layout(self) -> Layout | None:
        """The layout of the database file on disk (None when there is none yet)."""
        path = self.paths.data / DB_FILE
        if not path.exists():
            return None
        db = _bdb()
        handle = db.DB()
        try:
            handle.open(str(path), dbtype=db.DB_BTREE, flags=db.DB_RDONLY)
            stat = handle.stat(flags=db.DB_FAST_STAT)
            return Layout(int(stat["pagesize"]), int(stat["minkey"]))
        finally:
            handle.close()

    def create_database(self, name: str) -> None:
        """Creates an empty database with the configured layout."""
        self.load_items([])

    def load_items(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Replaces the database with ``items`` (in key order) in the configured layout, as ``db_load`` does."""
        running = self.running
        self.stop()
        self.paths.data.mkdir(parents=True, exist_ok=True)
        _rebuild(self.paths.data / DB_FILE, Layout.of(self._configured()), items)
        if running:
            self.start()

    def _ensure_layout(self, layout: Layout) -> None:
        path = self.paths.data / DB_FILE
        if not path.exists():
            _rebuild(path, layout, [])
            return
        if self.layout() == layout:
            return
        t0 = time.perf_counter()
        db = _bdb()
        source = db.DB()
        tmp = path.with_name(path.name + ".rebuild")
        try:
            source.open(str(path), dbtype=db.DB_BTREE, flags=db.DB_RDONLY)
            cursor = source.cursor()
            try:
                _rebuild(tmp, layout, _cursor_items(cursor))
            finally:
                cursor.close()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            source.close()
        os.replace(tmp, path)
        self._log(f"rebuilt {DB_FILE} with {layout} in {time.perf_counter() - t0:.2f}s")

    def _configured(self) -> dict[str, str]:
        path = self.config_path
        return json.loads(path.read_text()) if path.exists() else {}

    # ----- knobs ---------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.paths.root / CONFIG_FILE

    def _render_config(self, values: Mapping[str, str]) -> str:
        return json.dumps(dict(values), indent=1, sort_keys=True) + "\n"

    def _introspect(self, conn: Any) -> KnobSpace:
        return load_catalog(self.engine)

    def _read_values(self, conn: BerkeleyDBHandle, names: list[str]) -> dict[str, str]:
        db = _bdb()
        stat = conn.db.stat(flags=db.DB_FAST_STAT)
        actual = {
            "page_size": str(stat["pagesize"]),
            "min_keys": str(stat["minkey"]),
            "deadlock_policy": _policy_name(db, conn.env.get_lk_detect()),
            "db_rmw": "on" if self.rmw else "off",
        }
        return {n: actual[n] for n in names if n in actual}

    def _reload(self, conn: Any, values: Mapping[str, str]) -> None:
        if "db_rmw" in values:
            self.rmw = values["db_rmw"] in ("on", "true", "1")
        other = sorted(set(values) - {"db_rmw"})
        if other:
            raise KnobError(f"berkeleydb cannot change {', '.join(other)} while open")

    @classmethod
    def config_file_text(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> str:
        """A ``DB_CONFIG`` file for the environment home; what it cannot hold follows as comments."""
        lines = ["# DB_CONFIG settings found by knobray"]
        for line in cls.config_sql(values, catalog):
            lines.append(line if line.startswith("set_") else f"# {line}")
        return "\n".join(lines) + "\n"

    @classmethod
    def config_sql(cls, values: Mapping[str, KnobValue], catalog: KnobSpace) -> list[str]:
        """What to do on a user's database (Berkeley DB has no SQL: a DB_CONFIG line, db_load, a flag)."""
        out = []
        if "deadlock_policy" in values:
            out.append(f"set_lk_detect DB_LOCK_{str(values['deadlock_policy']).upper()}")
        layout = [f"-c {k}={values[n]}" for n, k in (("page_size", "db_pagesize"), ("min_keys", "bt_minkey")) if n in values]  # fmt: skip
        if layout:
            out.append(
                f"db_dump DB | db_load {' '.join(layout)} NEW_DB   (the layout is fixed when a database is created)"
            )
        if str(values.get("db_rmw", "off")).lower() in ("on", "true", "1"):
            out.append("pass DB_RMW to DB->get / DBcursor->get for items a transaction may update")
        return out

    def server_version(self) -> str:
        return self.binary_version()

    def load_csv(self, conn: Any, table: str, path: Path, delimiter: str = "|", header: bool = False) -> None:
        raise EngineError("berkeleydb loads no CSV tables; use --workload dbperf")

    def metrics_snapshot(self, conn: BerkeleyDBHandle, database: str) -> dict[str, object]:
        """Memory-pool, lock and transaction statistics of the environment, and this process's block reads and
        page faults (``getrusage``)."""
        return counters(conn.env)


def counters(env: Any) -> dict[str, object]:
    """The environment's cumulative counters, keyed ``<source>.<counter>``."""
    mpool = env.memp_stat()[0]
    lock, txn = env.lock_stat(), env.txn_stat()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, object] = {
        f"mpool.{k}": mpool[k]
        for k in ("cache_hit", "cache_miss", "page_in", "page_out", "ro_evict", "rw_evict")
    }
    out.update({f"lock.{k}": lock[k] for k in ("nrequests", "lock_wait", "ndeadlocks", "nlocktimeouts")})
    out.update({f"txn.{k}": txn[k] for k in ("nbegins", "ncommits", "naborts")})
    out.update({"rusage.inblock": usage.ru_inblock, "rusage.majflt": usage.ru_majflt})
    return out


def _cursor_items(cursor: Any) -> Iterator[tuple[bytes, bytes]]:
    row = cursor.first()
    while row is not None:
        yield row
        row = cursor.next()


def _rebuild(path: Path, layout: Layout, items: Iterable[tuple[bytes, bytes]]) -> None:
    """Writes a B-tree database with ``layout`` holding ``items`` (in key order), outside any environment."""
    db = _bdb()
    path.unlink(missing_ok=True)
    target = db.DB()
    try:
        target.set_pagesize(layout.page_size)
        target.set_bt_minkey(layout.min_keys)
    except db.DBError as exc:
        target.close()
        raise KnobError(f"berkeleydb refused the layout {layout}: {_message(exc)}") from None
    try:
        target.open(str(path), dbtype=db.DB_BTREE, flags=db.DB_CREATE)
        for key, value in items:
            target.put(key, value)
    finally:
        target.close()
