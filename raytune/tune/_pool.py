"""The pool of database instances: one Ray actor per instance on the node where its data lives, leased by trials.

Admission is by the custom resource ``db_slot`` (one per instance): a trial asks for one, so Ray never runs
more trials on a node than it has instances. Identity is by the named ``InstancePool`` actor: ``acquire`` hands
the trial an instance on its own node (idempotent for a retried trial id), ``release`` returns it, and a lease
older than the TTL is reclaimed (a trial killed without reaching ``release``).

For each trial an instance actor leases one of its node's slots (``raytune.slots.lease_slot``: node-wide, across
searches; its own index first) and confines itself, its server and the clients it starts to that slot's CPUs
and memory. Every search has a pool of its own, named after the search and a random suffix, so two searches on
one Ray never share or stop each other's instances, nor run trials on the same CPUs at once.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from raytune.errors import EngineError
from raytune.hardware import Hardware
from raytune.records import Objective, PenaltyState
from raytune.slots import SlotShape

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
    mix: str | None = None  # dbperf: a mix file or random:SEED


@dataclass(frozen=True)
class InstanceSpec:
    """What every instance of a search is: engine, workload, measurement, and the shape of its slot."""

    engine: str
    workload: WorkloadSpec
    settings: Any  # raytune.trial.MeasureSettings
    slot_shape: SlotShape
    search_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    bin_dir: str | None = None
    allow_unsafe: bool = False


@dataclass(frozen=True)
class TrialVariant:
    """What one trial changes of its search's instance spec: another query file over the same data (a corpus
    collects many workloads on one pool), another dbperf mix (file or ``random:SEED``), and whether to record the
    queries' plans."""

    queries_file: str | None = None
    plans: bool | None = None
    mix: str | None = None


@ray.remote(num_cpus=0, max_restarts=-1)
class InstanceActor:
    """Owns one database instance (a ``TrialRunner``) on its node; runs trials one at a time, each in a slot.

    The node's CPUs are cut into slots of the search's shape; ``index`` is the slot it prefers (its place in the
    pool). Searches sharing a node must use one slot shape.
    """

    def __init__(self, spec: InstanceSpec, index: int) -> None:
        from raytune.slots import slot_on_this_node, sweep_empty_groups
        from raytune.trial import TrialRunner, ensure_home
        from raytune.workloads import make_workload

        sweep_empty_groups()  # groups of owners that died
        self.node_cpus = tuple(sorted(os.sched_getaffinity(0)))  # before any confinement narrows it
        self.shape = spec.slot_shape
        self.capacity = max(1, len(self.node_cpus) // self.shape.cpus)
        slot_on_this_node(0, self.shape, self.node_cpus)  # the shape must fit the node: fail early

        w = spec.workload
        self._make_workload = lambda queries_file, mix: make_workload(
            w.name,
            sf=w.sf,
            cache_dir=ensure_home() / "data",
            queries_file=Path(queries_file) if queries_file else None,
            schema_file=Path(w.schema_file) if w.schema_file else None,
            data_dir=Path(w.data_dir) if w.data_dir else None,
            mix=mix,
        )
        workload = self._make_workload(w.queries_file, w.mix)
        # (queries file, mix) -> workload: one data set, many query sets or transaction mixes
        self.workloads = {(w.queries_file, w.mix): workload}
        self.settings = spec.settings
        self.spec_queries, self.spec_mix = w.queries_file, w.mix
        self.index = index
        self.group = f"{spec.search_id}-i{index}"
        self.runner = TrialRunner(
            spec.engine,
            workload,
            settings=spec.settings,
            bin_dir=Path(spec.bin_dir) if spec.bin_dir else None,
            allow_unsafe=spec.allow_unsafe,
            hardware=spec.slot_shape.hardware(),
        )

    def run(
        self, config: dict[str, Any], trial_id: str, variant: TrialVariant | None = None
    ) -> dict[str, Any]:
        """Runs the trial in a slot leased for it: this process and its server are moved there first.

        A ``variant`` runs another query set over the same data, or records plans, for this trial only.
        """
        from raytune.slots import confine_tree, lease_slot, slot_on_this_node

        self._apply_variant(variant or TrialVariant())
        with lease_slot(self.capacity, preferred=self.index) as index:
            slot = slot_on_this_node(index, self.shape, self.node_cpus)
            # One group per instance: its CPU set follows the leased slot, its memory charges stay its own.
            confinement = confine_tree(slot, self.group)
            self.runner.slot = {
                **slot.to_dict(),
                "shape": self.shape.describe(),
                "enforced": confinement.to_dict(),
            }
            return self.runner.run(config, trial_id=trial_id).to_dict()

    def _apply_variant(self, variant: TrialVariant) -> None:
        key = (variant.queries_file or self.spec_queries, variant.mix or self.spec_mix)
        if key not in self.workloads:
            self.workloads[key] = self._make_workload(*key)
        self.runner.workload = self.workloads[key]
        plans = self.settings.plans if variant.plans is None else variant.plans
        self.runner.settings = replace(self.settings, plans=plans)

    def server_pid(self) -> int | None:
        """The running server's process id (its children are its backends), or None."""
        process = self.runner.instance._process  # noqa: SLF001 - read-only, for checks of the slot
        return process.pid if process is not None and process.alive() else None

    def close(self) -> None:
        self.runner.close()


@ray.remote(num_cpus=0)
class InstancePool:
    """Hands out instances to trials: per node, as many as that node has ``db_slot`` resources."""

    def __init__(
        self,
        spec: InstanceSpec,
        objective: Objective,
        worst_success: float | None = None,
        lease_ttl_s: float = 3600.0,
    ) -> None:
        self.spec = spec
        self.lease_ttl_s = lease_ttl_s
        self.instances: dict[str, list[Any]] = {}  # node id -> actor handles
        self.leases: dict[str, tuple[str, int, float]] = {}  # trial id -> (node, index, since)
        # Penalties are relative to the worst success; a resumed search passes the one its records hold.
        self.penalty = PenaltyState(objective, worst_success)

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

    def acquire(self, trial_id: str, node_id: str, avoid: int | None = None) -> tuple[int, Any] | None:
        """An instance on ``node_id`` for ``trial_id`` (the same one again for a retried id), or None if busy.

        ``avoid`` names an instance that just failed the trial: any other free one (or a new one, while the
        node has slots left) is preferred to it.
        """
        if trial_id in self.leases:
            node, index, _ = self.leases[trial_id]
            self.leases[trial_id] = (node, index, time.monotonic())
            return index, self.instances[node][index]
        self._reclaim_expired()
        actors = self.instances.setdefault(node_id, [])
        busy = {index for node, index, _ in self.leases.values() if node == node_id}
        free = [i for i in range(len(actors)) if i not in busy]
        if avoid in free and (len(free) > 1 or len(actors) < self._capacity(node_id)):
            free.remove(avoid)
        if not free:
            if len(actors) >= self._capacity(node_id):
                return None
            strategy = NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)
            actors.append(InstanceActor.options(scheduling_strategy=strategy).remote(self.spec, len(actors)))
            free = [len(actors) - 1]
        self.leases[trial_id] = (node_id, free[0], time.monotonic())
        return free[0], actors[free[0]]

    def release_all(self) -> int:
        """Drops every lease (between the stages of a search, when no trial runs); returns how many there were."""
        held = len(self.leases)
        self.leases.clear()
        return held

    def release(self, trial_id: str) -> bool:
        """Returns the trial's instance to the pool; False if it held none."""
        return self.leases.pop(trial_id, None) is not None

    def score(self, value: float | None, penalised: bool, censored: float | None = None) -> float:
        """The number the optimizer sees: the value, or for a penalised trial the objective's penalty."""
        return self.penalty.score(value, penalised, censored)

    def leased(self) -> dict[str, tuple[str, int]]:
        """Trial id -> (node id, instance index) of the leases held now."""
        return {trial: (node, index) for trial, (node, index, _) in self.leases.items()}

    def worst_success(self) -> float | None:
        return self.penalty.worst_success

    def instance_handles(self) -> dict[str, list[Any]]:
        """Node id -> the instance actors there, by slot index."""
        return {node: list(actors) for node, actors in self.instances.items()}

    def close(self) -> None:
        for actors in self.instances.values():
            for actor in actors:
                try:
                    ray.get(actor.close.remote(), timeout=60)
                except Exception:  # noqa: BLE001 - closing is best effort
                    logger.warning("could not close an instance actor cleanly")
        self.instances.clear()


def pool_name(search_id: str) -> str:
    """The named pool actor of one search run (unique: ``search_id`` carries a random suffix)."""
    return f"knobray-pool-{search_id}"


@ray.remote(num_cpus=0)
def _node_hardware() -> dict[str, Any]:
    from raytune.hardware import detect_hardware

    return detect_hardware().to_dict()


def probe_db_node() -> tuple[Hardware, int]:
    """The hardware and ``db_slot`` count of a node that hosts instances (the smallest, if they differ).

    Raises:
        EngineError: No node has ``db_slot`` resources.
    """
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get(DB_SLOT, 0) > 0]
    if not nodes:
        check_slots("database")
    found: list[tuple[Hardware, int]] = []
    for node in nodes:
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        hw = Hardware(**ray.get(_node_hardware.options(scheduling_strategy=strategy).remote(), timeout=120))
        found.append((hw, int(node["Resources"][DB_SLOT])))
    return min(found, key=lambda f: (f[0].cores // f[1], f[0].ram_bytes // f[1]))


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
