"""The pool of database instances: one Ray actor per instance on the node where its data lives, leased by trials.

Admission is by the custom resource ``db_slot`` (one per instance): a trial asks for one, so Ray never runs
more trials on a node than it has instances. Identity is by the named ``InstancePool`` actor: ``acquire`` hands
the trial an instance on its own node (idempotent for a retried trial id), ``release`` returns it, and a lease
older than the TTL is reclaimed (a trial killed without reaching ``release``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raytune.errors import EngineError

logger = logging.getLogger(__name__)

DB_SLOT = "db_slot"
POOL_NAMESPACE = "knobray"


@dataclass(frozen=True)
class WorkloadSpec:
    """What an instance actor needs to rebuild the workload on its own node."""

    name: str
    sf: float
    queries_file: str | None = None
    schema_file: str | None = None
    data_dir: str | None = None


@dataclass(frozen=True)
class InstanceSpec:
    engine: str
    workload: WorkloadSpec
    settings: Any  # raytune.trial.MeasureSettings
    bin_dir: str | None = None
    allow_unsafe: bool = False


@ray.remote(num_cpus=0, max_restarts=-1)
class InstanceActor:
    """Owns one database instance (a ``TrialRunner``) on its node; runs trials on it one at a time."""

    def __init__(self, spec: InstanceSpec, index: int) -> None:
        from raytune.trial import TrialRunner, ensure_home
        from raytune.workloads import make_workload

        w = spec.workload
        workload = make_workload(
            w.name,
            sf=w.sf,
            cache_dir=ensure_home() / "data",
            queries_file=Path(w.queries_file) if w.queries_file else None,
            schema_file=Path(w.schema_file) if w.schema_file else None,
            data_dir=Path(w.data_dir) if w.data_dir else None,
        )
        self.index = index
        self.runner = TrialRunner(
            spec.engine,
            workload,
            settings=spec.settings,
            bin_dir=Path(spec.bin_dir) if spec.bin_dir else None,
            allow_unsafe=spec.allow_unsafe,
        )

    def run(self, config: dict[str, Any], trial_id: str) -> dict[str, Any]:
        return self.runner.run(config, trial_id=trial_id).to_dict()

    def close(self) -> None:
        self.runner.close()


@ray.remote(num_cpus=0)
class InstancePool:
    """Hands out instances to trials: per node, as many as that node has ``db_slot`` resources."""

    def __init__(self, spec: InstanceSpec, lease_ttl_s: float = 3600.0) -> None:
        self.spec = spec
        self.lease_ttl_s = lease_ttl_s
        self.instances: dict[str, list[Any]] = {}  # node id -> actor handles
        self.leases: dict[str, tuple[str, int, float]] = {}  # trial id -> (node, index, since)
        self.worst: float | None = None  # worst successful objective seen, for the failure penalty

    def _capacity(self, node_id: str) -> int:
        for node in ray.nodes():
            if node["NodeID"] == node_id and node["Alive"]:
                return int(node["Resources"].get(DB_SLOT, 0))
        return 0

    def _reclaim_expired(self) -> None:
        now = time.monotonic()
        for trial_id, (_, _, since) in list(self.leases.items()):
            if now - since > self.lease_ttl_s:
                logger.warning("lease of trial %s expired; reclaiming its instance", trial_id)
                del self.leases[trial_id]

    def acquire(self, trial_id: str, node_id: str) -> tuple[int, Any] | None:
        """An instance on ``node_id`` for ``trial_id`` (the same one again for a retried id), or None if busy."""
        if trial_id in self.leases:
            node, index, _ = self.leases[trial_id]
            self.leases[trial_id] = (node, index, time.monotonic())
            return index, self.instances[node][index]
        self._reclaim_expired()
        actors = self.instances.setdefault(node_id, [])
        busy = {index for node, index, _ in self.leases.values() if node == node_id}
        free = [i for i in range(len(actors)) if i not in busy]
        if not free:
            if len(actors) >= self._capacity(node_id):
                return None
            strategy = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
            actors.append(InstanceActor.options(scheduling_strategy=strategy).remote(self.spec, len(actors)))
            free = [len(actors) - 1]
        self.leases[trial_id] = (node_id, free[0], time.monotonic())
        return free[0], actors[free[0]]

    def release(self, trial_id: str) -> bool:
        """Returns the trial's instance to the pool; False if it held none."""
        return self.leases.pop(trial_id, None) is not None

    def score(self, objective: float | None, direction: str, penalty_factor: float, fallback: float) -> float:
        """The number the optimizer sees: the objective, or for a failed trial a penalty of ``penalty_factor``
        times the worst result seen (divided, when maximising); ``fallback`` before any success."""
        if objective is not None:
            worse = max if direction == "min" else min
            self.worst = objective if self.worst is None else worse(self.worst, objective)
            return objective
        if self.worst is None:
            return fallback
        return self.worst * penalty_factor if direction == "min" else self.worst / penalty_factor

    def close(self) -> None:
        for actors in self.instances.values():
            for actor in actors:
                try:
                    ray.get(actor.close.remote(), timeout=60)
                except Exception:  # noqa: BLE001 - closing is best effort
                    logger.warning("could not close an instance actor cleanly")
        self.instances.clear()


def pool_name(search_id: str) -> str:
    return f"knobray-pool-{search_id}"


def check_slots(engine: str, needed: int = 1) -> int:
    """The cluster's ``db_slot`` total.

    Raises:
        EngineError: When the cluster has none (a trial would stay PENDING forever).
    """
    total = int(ray.cluster_resources().get(DB_SLOT, 0))
    if total < needed:
        raise EngineError(
            f"the Ray cluster has {total} '{DB_SLOT}' resources, so no {engine} instance can run; start nodes with "
            f"ray start --resources='{{\"{DB_SLOT}\": 2}}' (cluster.yaml does) or use --instances on one machine"
        )
    return total
