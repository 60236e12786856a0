"""A whole search on Ray Tune: baselines first, then the optimizer, every trial on a leased instance."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune

from raytune.errors import KnobrayError
from raytune.hardware import Hardware, detect_hardware
from raytune.knobs import KnobSpace, load_catalog, tunable_space
from raytune.optimizers import OPTIMIZERS, encode, param_specs, rule_config
from raytune.storage import TrialStore
from raytune.trial import MeasureSettings
from raytune.tune._callbacks import RecordWriter
from raytune.tune._pool import (
    POOL_NAMESPACE,
    InstancePool,
    InstanceSpec,
    WorkloadSpec,
    check_slots,
    pool_name,
)
from raytune.tune._searchers import configs_space, make_search_alg, param_space
from raytune.tune._trainable import CONFIG_KEY, make_trainable

logger = logging.getLogger(__name__)

BASELINES = ("default", "rules")


@dataclass(frozen=True)
class SearchSpec:
    """Everything a search needs; ``trials`` counts every trial, the baselines included."""

    results_dir: Path
    engine: str = "postgres"
    workload: WorkloadSpec = field(default_factory=lambda: WorkloadSpec("tpch", 0.01))
    workload_kind: str = "olap"
    knobs_file: Path | None = None
    optimizer: str = "hebo"
    trials: int = 20
    instances: int = 2
    time_budget_s: float | None = None
    seed: int = 0
    baselines: bool = True
    configs: list[dict[str, Any]] = field(default_factory=list)  # for optimizer "configs"
    settings: MeasureSettings = field(default_factory=MeasureSettings)
    address: str | None = None
    dashboard: bool = False
    bin_dir: Path | None = None
    allow_unsafe: bool = False
    penalty_factor: float = 2.0
    hardware: Hardware = field(default_factory=detect_hardware)

    @property
    def mode(self) -> str:
        objective = self.settings.objective or ("latency" if self.workload_kind == "olap" else "throughput")
        return "max" if objective == "throughput" else "min"


def knob_space_for(spec: SearchSpec) -> KnobSpace:
    return tunable_space(
        spec.engine, load_catalog(spec.engine), spec.hardware, spec.knobs_file, allow_denied=spec.allow_unsafe
    )


def connect_ray(spec: SearchSpec) -> None:
    """Joins ``spec.address`` or starts a local Ray with ``instances`` db_slots.

    Raises:
        KnobrayError: The address cannot be reached.
    """
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if spec.address:
        _check_reachable(spec.address)
        try:
            ray.init(address=spec.address, namespace=POOL_NAMESPACE, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError or ValueError here
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise KnobrayError(
                f"cannot reach the Ray cluster at {spec.address} ({first}); check --address or start it with "
                f"ray up cluster.yaml"
            ) from None
        return
    ray.init(
        num_cpus=max(spec.hardware.cores, 1),
        resources={"db_slot": spec.instances},
        include_dashboard=spec.dashboard,
        namespace=POOL_NAMESPACE,
        log_to_driver=False,
        configure_logging=False,
    )


def _check_reachable(address: str) -> None:
    """Fails fast on an address nothing listens on (ray.init would wait for minutes)."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return
    except (OSError, ValueError) as exc:
        raise KnobrayError(
            f"cannot reach the Ray cluster at {address} ({exc}); check --address (host:port of the head) "
            f"or start one with ray up cluster.yaml"
        ) from None


def _baseline_configs(spec: SearchSpec) -> list[tuple[str | None, dict[str, Any]]]:
    return [("default", {}), ("rules", rule_config(spec.engine, spec.hardware, spec.workload_kind))]


def _fallback_score(spec: SearchSpec) -> float:
    # Before any success, a failed OLAP trial counts as every query timing out 100 times over; OLTP as 0 tps.
    return spec.settings.timeout_s * 100 if spec.mode == "min" else 0.0


def check_results_dir(results_dir: Path, *, resume: bool) -> None:
    """A new search needs a results directory without trial records; ``resume`` continues the one there.

    Raises:
        KnobrayError: A new search over an earlier search's records (they would be mixed with the new ones).
    """
    held = len(TrialStore(results_dir))
    if held and not resume:
        raise KnobrayError(
            f"{results_dir} already holds {held} trial records of an earlier search; "
            "continue that search with --resume, or choose a new --results DIR"
        )


def run_search(
    spec: SearchSpec,
    *,
    resume: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> TrialStore:
    """Runs the search and returns its store of trial records.

    Raises:
        KnobrayError: Bad input (unknown optimizer, knob file, ...), an unreachable cluster, no db_slot resources.
    """
    if spec.optimizer not in OPTIMIZERS:
        raise KnobrayError(f"unknown optimizer {spec.optimizer!r}; use one of: {', '.join(OPTIMIZERS)}")
    if spec.optimizer == "configs" and not spec.configs:
        raise KnobrayError("optimizer configs needs --configs FILE with a JSON list of configurations")
    catalog = load_catalog(spec.engine)
    for config in spec.configs:
        catalog.validate(config, allow_denied=spec.allow_unsafe)
    space = knob_space_for(spec)
    results = spec.results_dir.resolve()
    check_results_dir(results, resume=resume)
    results.mkdir(parents=True, exist_ok=True)
    store = TrialStore(results)
    connect_ray(spec)
    # On a cluster the db_slots decide how many trials can run at once; locally that is --instances.
    concurrency = check_slots(spec.engine) if spec.address else spec.instances

    name = pool_name(results.name)
    instance_spec = InstanceSpec(
        spec.engine,
        spec.workload,
        spec.settings,
        str(spec.bin_dir) if spec.bin_dir else None,
        spec.allow_unsafe,
    )
    pool = InstancePool.options(name=name, get_if_exists=True).remote(instance_spec)
    trainable = tune.with_resources(
        make_trainable(name, space, spec.mode, spec.penalty_factor, _fallback_score(spec)),
        {"cpu": 0, "db_slot": 1},
    )
    try:
        done_baselines = {r["baseline"]: r for r in store.rows() if r["baseline"] in BASELINES}
        n_baselines = 0
        if spec.baselines and spec.optimizer != "configs":
            todo = [(label, cfg) for label, cfg in _baseline_configs(spec) if label not in done_baselines]
            n_baselines = len(BASELINES)
            if todo:
                _fit(
                    spec,
                    results,
                    f"baselines-{int(time.time())}",
                    trainable,
                    configs_space(todo),
                    None,
                    1,
                    concurrency,
                    name,
                    "configs",
                    on_record,
                    resume=False,
                )
            done_baselines = {r["baseline"]: r for r in store.rows() if r["baseline"] in BASELINES}
        specs = param_specs(space)
        if spec.optimizer == "configs":
            labelled = [(None, c) for c in spec.configs]
            _fit(
                spec,
                results,
                "search",
                trainable,
                configs_space(labelled),
                None,
                1,
                concurrency,
                name,
                "configs",
                on_record,
                resume=resume,
            )
        else:
            known = [r for r in done_baselines.values() if r["score"] is not None]
            points = [encode(space, catalog.validate(r["config"], allow_denied=True)) for r in known]
            scores = [r["score"] for r in known]
            search_alg = make_search_alg(
                spec.optimizer,
                specs,
                mode=spec.mode,
                seed=spec.seed,
                max_concurrent=concurrency,
                n_trials=spec.trials,
                known_points=points,
                known_scores=scores,
            )
            remaining = max(spec.trials - n_baselines, 0)
            if remaining:
                _fit(
                    spec,
                    results,
                    "search",
                    trainable,
                    param_space(specs),
                    search_alg,
                    remaining,
                    concurrency,
                    name,
                    spec.optimizer,
                    on_record,
                    resume=resume,
                )
    finally:
        try:
            ray.get(pool.close.remote(), timeout=120)
            ray.kill(pool)
        except Exception:  # noqa: BLE001 - shutting down is best effort
            logger.warning("could not close the instance pool cleanly")
    return store


def _fit(
    spec: SearchSpec,
    results: Path,
    run_name: str,
    trainable: Any,
    space: dict[str, Any],
    search_alg: Any,
    num_samples: int,
    concurrency: int,
    name: str,
    optimizer: str,
    on_record: Callable[[dict[str, Any]], None] | None,
    *,
    resume: bool,
) -> None:
    storage = str(results / "ray")
    path = os.path.join(storage, run_name)
    if resume and tune.Tuner.can_restore(path):
        logger.info("resuming %s from %s", run_name, path)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True, param_space=space)
        for cb in tuner._local_tuner._run_config.callbacks or []:  # noqa: SLF001 - re-attach the progress hook
            if isinstance(cb, RecordWriter):
                cb.on_record = on_record
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric="score",
                mode=spec.mode,
                search_alg=search_alg,
                num_samples=num_samples,
                # Ray may hold more db_slots than this search has instances (a driver running several searches,
                # a cluster); without this cap a grid of configs would run as many at once as there are slots.
                max_concurrent_trials=concurrency,
                time_budget_s=spec.time_budget_s,
            ),
            run_config=tune.RunConfig(
                name=run_name,
                storage_path=storage,
                verbose=0,
                callbacks=[RecordWriter(results, name, optimizer, spec.engine, on_record)],
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
    grid = tuner.fit()
    trials = grid._experiment_analysis.trials  # noqa: SLF001 - statuses tell an interrupted run from a finished one
    grid_size = len(space[CONFIG_KEY]["grid_search"]) if CONFIG_KEY in space else 1
    expected = num_samples * grid_size
    unfinished = [t for t in trials if t.status not in ("TERMINATED", "ERROR")]
    if unfinished or (spec.time_budget_s is None and len(trials) < expected):
        raise KeyboardInterrupt(f"{run_name} was interrupted after {len(trials) - len(unfinished)} trials")
