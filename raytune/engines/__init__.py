"""Database engines: lifecycle and applying configurations (PostgreSQL and MariaDB servers, embedded Berkeley DB)."""

from __future__ import annotations

from pathlib import Path

from raytune.engines._berkeleydb import BerkeleyDBInstance
from raytune.engines._dialect import SqlDialect
from raytune.engines._instance import ApplyOutcome, ApplyResult, EngineInstance, InstanceState
from raytune.engines._mariadb import MariaDBInstance
from raytune.engines._postgres import PostgresInstance, embedded_bin_dir
from raytune.engines._sysuser import ServiceUser, service_user
from raytune.errors import EngineError

ENGINES: dict[str, type[EngineInstance]] = {
    "postgres": PostgresInstance,
    "mariadb": MariaDBInstance,
    "berkeleydb": BerkeleyDBInstance,
}


def engine_class(name: str) -> type[EngineInstance]:
    """The instance class of engine ``name``.

    Raises:
        EngineError: For an unknown engine.
    """
    try:
        return ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}; use one of: {', '.join(ENGINES)}") from None


def dialect_of(name: str) -> str:
    """The sqlglot dialect queries are translated to for engine ``name``."""
    return engine_class(name).sql.sqlglot


def create_instance(
    engine: str, root: Path, *, bin_dir: Path | None = None, port: int | None = None
) -> EngineInstance:
    """A new (not yet started) instance of ``engine`` rooted at ``root``."""
    return engine_class(engine)(root, bin_dir=bin_dir, port=port)


__all__ = [
    "ApplyOutcome",
    "SqlDialect",
    "ENGINES",
    "ApplyResult",
    "BerkeleyDBInstance",
    "EngineInstance",
    "InstanceState",
    "MariaDBInstance",
    "PostgresInstance",
    "ServiceUser",
    "create_instance",
    "dialect_of",
    "embedded_bin_dir",
    "engine_class",
    "service_user",
]
