"""A whole search on Ray Tune: baselines first, then the optimizer, then the confirmation of the best configs,
every trial on an instance leased from the search's own pool of slots."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from raytune.backends import TrialBackend, config_key
from raytune.confirmation import RULES, pick_candidates, schedule, search_rows
from raytune.errors import KnobrayError, first_line
from raytune.hardware import Hardware, detect_hardware
from raytune.knobs import KnobSpace, load_catalog, tunable_space
from raytune.optimizers import OPTIMIZERS, encode, param_specs, rule_config
from raytune.records import Objective
from raytune.slots import SlotShape, resolve_shape
from raytune.storage import TrialStore
from raytune.trial import MeasureSettings
from raytune.tune._callbacks import RecordWriter, StopOnBug
from raytune.tune._local import WARM_START, LocalFit
from raytune.tune._pool import (
    POOL_NAMESPACE,
    InstancePool,
    InstanceSpec,
    WorkloadSpec,
    check_slots,
    pool_name,
    probe_db_node,
)
from raytune.tune._reaper import start_reaper
from raytune.tune._searchers import configs_space, make_search_alg, param_space
from raytune.tune._trainable import CONFIG_KEY, make_trainable

logger = logging.getLogger(__name__)

BASELINES = ("default", "rules")


@dataclass(frozen=True)
class SearchSpec:
    """Everything a search needs; ``trials`` counts every trial, the baselines included (not the confirmation).

    ``slot_cpus`` / ``slot_memory_bytes`` fix the shape of every instance's slot (default: a node's CPUs and
    RAM divided evenly among its instances); ``confirm`` top configs are re-measured ``confirm_rounds`` times
    with the default and the rules after the optimizer's budget (0: no confirmation).
    """

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
    slot_cpus: int | None = None
    slot_memory_bytes: int | None = None
    confirm: int = 3
    confirm_rounds: int = 3
    backend: str = "pool"  # "pool" (real servers on Ray), "tabulated" or "surrogate" (see run_search)
    warm_start: list[dict[str, Any]] = field(default_factory=list)  # recommended configs, measured first

    @property
    def objective(self) -> Objective:
        return Objective.for_workload(
            self.workload_kind == "olap",
            self.settings.objective,
            timeout_s=self.settings.timeout_s,
            penalty_factor=self.penalty_factor,
        )

    @property
    def mode(self) -> str:
        return self.objective.mode


def slot_shape_for(spec: SearchSpec) -> SlotShape:
    """The shape of every slot of the search: this machine's (local Ray) or a database node's (a cluster).

    Raises:
        KnobrayError: The slots do not fit on the node.
    """
    if spec.address:
        node, slots = probe_db_node()
    elif spec.backend != "pool" and spec.slot_cpus and spec.slot_memory_bytes:
        return SlotShape(spec.slot_cpus, spec.slot_memory_bytes)  # replayed or predicted: not this machine's
    else:
        node, slots = spec.hardware, spec.instances
    return resolve_shape(node, slots, cpus=spec.slot_cpus, memory_bytes=spec.slot_memory_bytes)


def knob_space_for(spec: SearchSpec, shape: SlotShape | None = None) -> KnobSpace:
    """The search's knob space, with bounds relative to the slot's shape."""
    hw = (shape or slot_shape_for(spec)).hardware()
    return tunable_space(
        spec.engine, load_catalog(spec.engine), hw, spec.knobs_file, allow_denied=spec.allow_unsafe
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
            first = first_line(exc)
            raise KnobrayError(
                f"cannot reach the Ray cluster at {spec.address} ({first}); check --address or start it with "
                f"ray up cluster.yaml"
            ) from None
        return
    ray.init(
        address="local",  # a new Ray, even beside one that `ray start` left running (that one: --address)
        num_cpus=max(spec.hardware.cores, 1),
        resources={"db_slot": spec.instances},
        include_dashboard=spec.dashboard,
        namespace=POOL_NAMESPACE,
        log_to_driver=False,
        configure_logging=False,
    )
    start_reaper()  # a driver killed outright leaves no Ray process behind


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


def _baseline_configs(spec: SearchSpec, shape: SlotShape) -> list[dict[str, Any]]:
    rules = rule_config(spec.engine, shape.hardware(), spec.workload_kind)
    return [{"label": "default", "config": {}}, {"label": RULES, "config": rules}]


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
    backend: TrialBackend | None = None,
) -> TrialStore:
    """Runs the search (baselines, optimizer, confirmation) and returns its store of trial records.

    Trials run on the search's pool of real database servers on Ray, or, given a ``backend`` (tabulated or
    surrogate), in this process one at a time: the stages, optimizers, penalties and records are the same.

    Raises:
        KnobrayError: Bad input (unknown optimizer, knob file, slot shape, ...), an unreachable cluster, no
            db_slot resources.
    """
    if spec.optimizer not in OPTIMIZERS:
        raise KnobrayError(f"unknown optimizer {spec.optimizer!r}; use one of: {', '.join(OPTIMIZERS)}")
    if spec.optimizer == "configs" and not spec.configs:
        raise KnobrayError("optimizer configs needs --configs FILE with a JSON list of configurations")
    catalog = load_catalog(spec.engine)
    for config in spec.configs:
        catalog.validate(config, allow_denied=spec.allow_unsafe)
    results = spec.results_dir.resolve()
    check_results_dir(results, resume=resume)
    if backend is not None:
        return _run_local(spec, backend, results, catalog, resume=resume, on_record=on_record)
    return _run_on_pool(spec, results, catalog, resume=resume, on_record=on_record)


def _run_local(
    spec: SearchSpec,
    backend: TrialBackend,
    results: Path,
    catalog: KnobSpace,
    *,
    resume: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> TrialStore:
    shape = slot_shape_for(spec)
    space = knob_space_for(spec, shape)
    results.mkdir(parents=True, exist_ok=True)
    store = TrialStore(results)
    fit = LocalFit(
        backend,
        store,
        spec.objective,
        space,
        instances=spec.instances,
        seed=spec.seed,
        time_budget_s=spec.time_budget_s,
        on_record=on_record,
    )
    _run_stages(spec, shape, space, catalog, store, fit, spec.instances, every_known=True)
    return store


def _run_on_pool(
    spec: SearchSpec,
    results: Path,
    catalog: KnobSpace,
    *,
    resume: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> TrialStore:
    with _pool_stage_runner(spec, results, resume=resume, on_record=on_record) as (
        fit,
        concurrency,
        shape,
        space,
    ):
        # Tune restores its own searcher state on resume: the optimizer is told only the baselines.
        _run_stages(spec, shape, space, catalog, TrialStore(results), fit, concurrency, every_known=False)
    return TrialStore(results)


def measure_given(
    spec: SearchSpec,
    items: list[dict[str, Any]],
    run_name: str,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> TrialStore:
    """Measures given configurations once each on the search's pool of real servers: no optimizer, no
    confirmation (what a corpus collection does). Each item has ``config`` and optionally ``label``,
    ``queries_file`` (another query set over the spec's data), ``mix`` (another dbperf mix: a file or
    ``random:SEED``) and ``plans`` (record EXPLAIN plans).

    The records go to ``spec.results_dir``, which may already hold records (items are appended).
    """
    results = spec.results_dir.resolve()
    with _pool_stage_runner(spec, results, resume=False, on_record=on_record) as (fit, concurrency, _, _):
        if items:
            fit(run_name, configs_space(items), None, 1, concurrency, "configs")
    return TrialStore(results)


@contextmanager
def _pool_stage_runner(
    spec: SearchSpec,
    results: Path,
    *,
    resume: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> Iterator[tuple[Callable[..., None], int, SlotShape, KnobSpace]]:
    """The search's pool of instances on Ray and a ``fit`` that runs one stage on it; closes the pool after."""
    objective = spec.objective
    connect_ray(spec)
    shape = slot_shape_for(spec)
    space = knob_space_for(spec, shape)
    results.mkdir(parents=True, exist_ok=True)
    store = TrialStore(results)
    # On a cluster the db_slots decide how many trials can run at once; locally that is --instances.
    concurrency = check_slots(spec.engine) if spec.address else spec.instances

    search_id = f"{results.name}-{uuid.uuid4().hex[:6]}"
    name = pool_name(search_id)
    instance_spec = InstanceSpec(
        spec.engine,
        spec.workload,
        spec.settings,
        shape,
        search_id,
        str(spec.bin_dir) if spec.bin_dir else None,
        spec.allow_unsafe,
    )
    # A resumed search scores failures against the worst success its records already hold.
    worst = objective.worst(r["objective"] for r in search_rows(store.rows()) if r["status"] == "SUCCEEDED")
    pool = InstancePool.options(name=name).remote(instance_spec, objective, worst)
    trainable = tune.with_resources(make_trainable(name, space), {"cpu": 0, "db_slot": 1})

    def fit(run_name: str, space_: dict[str, Any], alg: Any, n: int, limit: int, optimizer: str) -> None:
        # --time-budget bounds the optimizer's stage only: baselines and confirmation always run in full.
        budget = spec.time_budget_s if run_name == "search" and spec.optimizer != "configs" else None
        try:
            _fit(
                spec,
                results,
                run_name,
                trainable,
                space_,
                alg,
                n,
                limit,
                name,
                optimizer,
                on_record,
                resume=resume,
                budget_s=budget,
            )
        finally:
            ray.get(pool.release_all.remote())  # a trial stopped by Tune never reached its release

    try:
        yield fit, concurrency, shape, space
    finally:
        try:
            ray.get(pool.close.remote(), timeout=120)
            ray.kill(pool)
        except Exception:  # noqa: BLE001 - shutting down is best effort
            logger.warning("could not close the instance pool cleanly")


def _run_stages(
    spec: SearchSpec,
    shape: SlotShape,
    space: KnobSpace,
    catalog: KnobSpace,
    store: TrialStore,
    fit: Callable[..., None],
    concurrency: int,
    *,
    every_known: bool,
) -> None:
    """Baselines, then the optimizer, then the confirmation of its top configs, each through ``fit``."""
    rules_config = _run_baselines(spec, shape, store, fit, concurrency)
    _run_warm_start(spec, store, fit, concurrency)
    _run_optimizer(spec, space, catalog, store, fit, concurrency, every_known=every_known)
    if spec.confirm > 0:
        candidates = pick_candidates(store.rows(), spec.objective, spec.confirm)
        items = schedule(candidates, rules_config, spec.confirm_rounds)
        # One at a time: every confirmation run is alone, on the same slot, as a user's server would be.
        fit("confirm", configs_space([_confirm_item(i) for i in items]), None, 1, 1, spec.optimizer)


def _confirm_item(item: Any) -> dict[str, Any]:
    return {"label": None, "config": item.config, "confirms": item.confirms, "round": item.round}


def _run_baselines(
    spec: SearchSpec, shape: SlotShape, store: TrialStore, fit: Callable[..., None], concurrency: int
) -> dict[str, Any] | None:
    """Measures the default and rule configs not measured yet; returns the rule config (None without baselines)."""
    if not spec.baselines or spec.optimizer == "configs":
        return None
    baselines = _baseline_configs(spec, shape)
    done = {r["baseline"] for r in search_rows(store.rows()) if r["baseline"] in BASELINES}
    todo = [b for b in baselines if b["label"] not in done]
    if todo:
        fit(f"baselines-{int(time.time())}", configs_space(todo), None, 1, concurrency, "configs")
    return baselines[1]["config"]


def _run_warm_start(spec: SearchSpec, store: TrialStore, fit: Callable[..., None], concurrency: int) -> None:
    """Measures the recommended configurations (``--warm-start``) not measured yet, right after the baselines;
    they count as trials of the budget, are shown to the optimizer as evaluated points and can be crowned."""
    if not spec.warm_start or spec.optimizer == "configs":
        return
    done = {config_key(r["config"]) for r in search_rows(store.rows()) if r.get("optimizer") == WARM_START}
    todo = [{"label": None, "config": c} for c in spec.warm_start if config_key(c) not in done]
    if todo:
        fit(f"warm-start-{int(time.time())}", configs_space(todo), None, 1, concurrency, WARM_START)


def _run_optimizer(
    spec: SearchSpec,
    space: KnobSpace,
    catalog: KnobSpace,
    store: TrialStore,
    fit: Callable[..., None],
    concurrency: int,
    *,
    every_known: bool = False,
) -> None:
    """The optimizer's stage. ``every_known``: every recorded search trial is shown to the optimizer as an
    evaluated point (a resumed in-process search); else the baselines only."""
    if spec.optimizer == "configs":
        fit(
            "search",
            configs_space([{"label": None, "config": c} for c in spec.configs]),
            None,
            1,
            concurrency,
            "configs",
        )
        return
    specs = param_specs(space)
    known = [
        r
        for r in search_rows(store.rows())
        if (every_known or r["baseline"] in BASELINES or r.get("optimizer") == WARM_START)
        and r["score"] is not None
    ]
    warm = {config_key(r["config"]) for r in search_rows(store.rows()) if r.get("optimizer") == WARM_START}
    warm |= {config_key(c) for c in spec.warm_start}
    n_baselines = (len(BASELINES) if spec.baselines else 0) + len(warm)
    search_alg = make_search_alg(
        spec.optimizer,
        specs,
        mode=spec.mode,
        seed=spec.seed,
        max_concurrent=concurrency,
        n_trials=spec.trials,
        known_points=[encode(space, catalog.validate(r["config"], allow_denied=True)) for r in known],
        known_scores=[r["score"] for r in known],
    )
    remaining = max(spec.trials - n_baselines, 0)
    if remaining:
        fit("search", param_space(specs), search_alg, remaining, concurrency, spec.optimizer)


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
    budget_s: float | None = None,
) -> None:
    storage = str(results / "ray")
    path = os.path.join(storage, run_name)
    if resume and tune.Tuner.can_restore(path):
        logger.info("resuming %s from %s", run_name, path)
        tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True, param_space=space)
        for cb in tuner._local_tuner._run_config.callbacks or []:  # noqa: SLF001 - re-attach the progress hook
            if isinstance(cb, RecordWriter):
                cb.on_record = on_record
                cb.pool_name = (
                    name  # the resumed search's own pool: errored trials release their leases there
                )
    else:
        stopper = StopOnBug()
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
                # (A ConcurrencyLimiter already caps the optimizers; Tune warns when told twice.)
                max_concurrent_trials=None if isinstance(search_alg, ConcurrencyLimiter) else concurrency,
                time_budget_s=budget_s,
                # A trial's actor only leases an instance and waits on it: reusing it across trials saves a
                # worker start-up per trial and changes nothing that is measured.
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=run_name,
                storage_path=storage,
                verbose=0,
                callbacks=[RecordWriter(results, name, optimizer, spec.engine, on_record, stopper)],
                stop=stopper,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
    started = time.monotonic()
    grid = tuner.fit()
    trials = grid._experiment_analysis.trials  # noqa: SLF001 - statuses tell an interrupted run from a finished one
    _raise_bugs(trials)
    grid_size = len(space[CONFIG_KEY]["grid_search"]) if CONFIG_KEY in space else 1
    expected = num_samples * grid_size
    unfinished = [t for t in trials if t.status not in ("TERMINATED", "ERROR")]
    if budget_s is not None and time.monotonic() - started >= budget_s:
        return  # the budget ended the stage: what ran is what there is (an earlier stop was an interrupt)
    if unfinished or len(trials) < expected:
        raise KeyboardInterrupt(f"{run_name} was interrupted after {len(trials) - len(unfinished)} trials")


def _raise_bugs(trials: list[Any]) -> None:
    """Re-raises a trial error that is not an infrastructure failure: a bug must stop the search, loudly."""
    for trial in trials:
        if trial.status != "ERROR":
            continue
        try:
            text = str(trial.get_error() or "")
        except Exception:  # noqa: BLE001 - the error file may be missing
            text = ""
        if "InfraError" not in text:
            lines = [ln for ln in text.splitlines() if ln.strip()] or ["(no error text)"]
            raise RuntimeError(f"trial {trial.trial_id} raised an unexpected error: {lines[-1].strip()}")
