"""Per-engine SQL dialects: what workloads and measurement say to a server, without naming its engine.

A workload asks ``instance.sql`` for the statement it needs (statistics, a statement timeout, a JSON plan), the
type of a column, or the connection arguments of a benchmark client; a new engine supplies one more dialect.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from raytune.engines._instance import EngineInstance


class SqlDialect(abc.ABC):
    """The SQL of one engine."""

    sqlglot: ClassVar[str]  # the sqlglot dialect its queries are translated to
    double_type: ClassVar[str]  # a column type for double-precision floats
    statements_return_rows: ClassVar[bool] = (
        False  # whether ANALYZE and the like return a result set to drain
    )

    @abc.abstractmethod
    def analyze(self, table: str) -> str:
        """The statement that gathers optimizer statistics of ``table``."""

    @abc.abstractmethod
    def statement_timeout(self, seconds: float) -> str:
        """The statement that limits each statement of a session to ``seconds``."""

    @abc.abstractmethod
    def explain_json(self, query: str) -> str:
        """The statement that returns ``query``'s plan as JSON."""

    @abc.abstractmethod
    def is_timeout_error(self, exc: Exception) -> bool:
        """Whether a driver error means the statement timeout fired."""

    @abc.abstractmethod
    def sysbench_connection(self, instance: EngineInstance, database: str) -> list[str]:
        """sysbench's options to reach ``database`` on ``instance``."""


class PostgresDialect(SqlDialect):
    sqlglot = "postgres"
    double_type = "DOUBLE PRECISION"

    def analyze(self, table: str) -> str:
        return f"ANALYZE {table}"

    def statement_timeout(self, seconds: float) -> str:
        return f"SET statement_timeout = {int(seconds * 1000)}"

    def explain_json(self, query: str) -> str:
        return f"EXPLAIN (FORMAT JSON) {query}"

    def is_timeout_error(self, exc: Exception) -> bool:
        import psycopg

        return isinstance(exc, psycopg.errors.QueryCanceled)

    def sysbench_connection(self, instance: EngineInstance, database: str) -> list[str]:
        from raytune.engines._postgres import SUPERUSER

        return [
            "--db-driver=pgsql",
            "--pgsql-host=127.0.0.1",
            f"--pgsql-port={instance.port}",
            f"--pgsql-user={SUPERUSER}",
            f"--pgsql-db={database}",
        ]


class MariaDBDialect(SqlDialect):
    sqlglot = "mysql"
    double_type = "DOUBLE"
    statements_return_rows = True

    def analyze(self, table: str) -> str:
        return f"ANALYZE TABLE {table}"

    def statement_timeout(self, seconds: float) -> str:
        return f"SET SESSION max_statement_time = {seconds:g}"

    def explain_json(self, query: str) -> str:
        return f"EXPLAIN FORMAT=JSON {query}"

    def is_timeout_error(self, exc: Exception) -> bool:
        import pymysql

        return isinstance(exc, pymysql.err.OperationalError) and bool(exc.args) and exc.args[0] == 1969

    def sysbench_connection(self, instance: EngineInstance, database: str) -> list[str]:
        return [
            "--db-driver=mysql",
            f"--mysql-socket={getattr(instance, 'socket_path')}",  # noqa: B009 - only MariaDB instances have one
            "--mysql-user=root",
            f"--mysql-db={database}",
        ]
