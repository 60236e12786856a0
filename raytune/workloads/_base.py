"""What every workload is: something loaded once into a golden database and then run against a config."""

from __future__ import annotations

import abc
import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raytune.engines import EngineInstance

DATABASE = "knobray"


class WorkloadKind(enum.StrEnum):
    OLAP = "olap"  # a set of queries; objective: latency (lower is better)
    OLTP = "oltp"  # a transaction mix for a fixed time; objective: throughput (higher is better)


class Workload(abc.ABC):
    """A workload: its data (loaded once into a golden data dir) and how it runs."""

    name: str
    kind: WorkloadKind
    writes: bool = False  # runs modify data: restore from the golden copy between trials
    database: str = DATABASE

    @abc.abstractmethod
    def data_key(self) -> str:
        """Identity of the loaded data (same key: same golden data dir)."""

    @abc.abstractmethod
    def load(self, instance: EngineInstance) -> None:
        """Creates and fills the workload's database in a running ``instance``."""

    def check(self, engine: str) -> None:
        """Raises ``WorkloadError`` if this workload cannot run on ``engine`` (called before any server starts).

        The workloads here speak SQL: an engine without it (Berkeley DB) runs ``dbperf`` instead.
        """
        from raytune.engines import engine_class
        from raytune.errors import WorkloadError

        if not engine_class(engine).sql.sqlglot:
            raise WorkloadError(
                f"workload {self.name} runs SQL, which {engine} does not have; use --workload dbperf"
            )

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind.value, "data": self.data_key()}
