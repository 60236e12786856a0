"""One trial end to end: restore the golden data, apply a configuration, measure, record."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytune.engines import ApplyOutcome, EngineInstance, create_instance
from raytune.errors import INFRA_ERRORS, EngineError
from raytune.hardware import Hardware, detect_hardware
from raytune.home import ensure_home
from raytune.knobs import KnobSpace, load_catalog, save_catalog
from raytune.lifetime import sweep_orphans
from raytune.measurement import (
    ClientFailedError,
    ClientTimeoutError,
    OltpResult,
    QueryFailedError,
    collect_plans,
    delta,
    run_olap,
    run_oltp,
    snapshot,
)
from raytune.records import Objective, TrialRecord, TrialStatus
from raytune.trial._golden import GoldenStore
from raytune.workloads import EmbeddedWorkload, OlapWorkload, OltpWorkload, Workload

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeasureSettings:
    """How a trial measures.

    Attributes:
        repeats: OLAP passes measured after the warm-up pass.
        timeout_s: OLAP per-statement timeout; a timed-out query counts as this.
        duration_s: OLTP measured seconds.
        warmup_s: OLTP warm-up seconds (discarded).
        clients: OLTP client connections.
        plans: Whether to record EXPLAIN plans (OLAP).
        objective: What a trial optimises: ``latency`` (OLAP total latency, lower is better), ``p95`` (p95 latency
            over the queries or transactions, lower is better) or ``throughput`` (OLTP tps, higher is better).
    """

    repeats: int = 3
    timeout_s: float = 60.0
    duration_s: int = 30
    warmup_s: int = 5
    clients: int = 4
    plans: bool = True
    objective: str = ""  # latency | p95 | throughput; "" = latency (OLAP) or throughput (OLTP)


def validate_config(
    engine: str, config: Mapping[str, object], *, allow_unsafe: bool = False
) -> dict[str, Any]:
    """Checks a configuration against the engine's knob catalog without touching any server.

    Raises:
        KnobError: Unknown knob, deny-listed knob, wrong type or value out of range.
    """
    return load_catalog(engine).validate(config, allow_denied=allow_unsafe)


def objective_for(workload: Workload, settings: MeasureSettings | None = None) -> Objective:
    """The objective trials of ``workload`` report under ``settings`` (see ``MeasureSettings.objective``).

    Raises:
        KnobrayError: An objective the workload cannot produce.
    """
    s = settings or MeasureSettings()
    olap = isinstance(workload, OlapWorkload)
    return Objective.for_workload(olap, s.objective, timeout_s=s.timeout_s, workload=workload.name)


def failure_status(
    exc: BaseException, server_running: bool, driver_errors: tuple[type[Exception], ...] = ()
) -> TrialStatus:
    """The status a measurement failure stands for; a programming error is re-raised, never blamed on a config.

    ``driver_errors`` are the engine's DB-API errors: the server refusing or dropping a statement.

    Raises:
        BaseException: ``exc`` itself when it is not a failure a configuration or the machine can cause.
    """
    if isinstance(exc, ClientTimeoutError):
        return TrialStatus.TIMED_OUT
    if isinstance(exc, (QueryFailedError, ClientFailedError, EngineError, *driver_errors)):
        return TrialStatus.REJECTED if server_running else TrialStatus.CRASHED
    if isinstance(exc, INFRA_ERRORS):
        return TrialStatus.INFRA_ERROR
    raise exc


class TrialRunner:
    """Runs trials of one workload on one instance that it owns (created under ``workdir``).

    Before each trial the instance is healthy and, for workloads that write, restored from the golden copy.
    A configuration that the server refuses, that crashes it or that runs past the limits yields a REJECTED,
    CRASHED or TIMED_OUT record; a failure of the machine or of knobray an INFRA_ERROR one. The instance is
    repaired before returning. Programming errors propagate.
    """

    def __init__(
        self,
        engine: str,
        workload: Workload,
        *,
        workdir: Path | None = None,
        bin_dir: Path | None = None,
        settings: MeasureSettings | None = None,
        allow_unsafe: bool = False,
        hardware: Hardware | None = None,
        slot: dict[str, Any] | None = None,
    ) -> None:
        workload.check(engine)
        self.objective = objective_for(workload, settings)
        home = ensure_home()
        self.engine = engine
        self.workload = workload
        self.bin_dir = bin_dir
        self.settings = settings or MeasureSettings()
        self.allow_unsafe = allow_unsafe
        self.hardware = hardware or detect_hardware()
        self.slot = dict(slot or {})
        self.golden = GoldenStore(home / "golden")
        sweep_orphans(home / "instances")  # servers and directories of owners that died
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else home / "instances" / uuid.uuid4().hex[:10]
        self.instance: EngineInstance = create_instance(engine, self.workdir, bin_dir=bin_dir)
        self._golden_data: Path | None = None
        self._pristine = False
        self._catalog: KnobSpace | None = None
        self._offline_catalog = load_catalog(engine)  # validation before any server is touched
        self._version = ""

    # ----- lifecycle ------------------------------------------------------------------------------------------
    def prepare(self) -> float:
        """Builds (or reuses) the golden data and brings up a fresh clone; returns the seconds it took."""
        t0 = time.perf_counter()
        if self._golden_data is None:
            self._golden_data = self.golden.ensure(self.engine, self.workload, self.bin_dir)
        self.instance.clone_from(self._golden_data)
        if isinstance(self.workload, EmbeddedWorkload):
            self.workload.configure(self.instance)
        self.instance.start()
        if self._catalog is None:
            self._catalog = self.instance.catalog()
            self._version = self.instance.server_version()
            save_catalog(self._catalog, self._version)
        self._pristine = True
        return time.perf_counter() - t0

    def close(self) -> None:
        """Stops the server; deletes the instance directory if the runner created it."""
        if self._owns_workdir:
            self.instance.destroy()
        else:
            self.instance.stop()

    def __enter__(self) -> TrialRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- trials ---------------------------------------------------------------------------------------------
    def run(
        self,
        config: Mapping[str, object],
        *,
        trial_id: str | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> TrialRecord:
        """Measures ``config`` (knob -> value, units allowed) and returns its record.

        Raises:
            KnobError: The configuration is invalid (nothing was touched).
        """
        t_start = time.perf_counter()
        record = TrialRecord(
            engine=self.engine,
            workload=self.workload.describe(),
            config=dict(config),
            hardware=self.hardware.to_dict(),
            slot=self.slot,
            objective_name=self.objective.name,
            direction=self.objective.direction,
        )
        if trial_id:
            record.trial_id = trial_id
        native = self._offline_catalog.validate(config, allow_denied=self.allow_unsafe)

        prepare_s = 0.0
        try:
            if not self._pristine or self.workload.writes or not self.instance.running:
                prepare_s = self.prepare()
            else:
                self.instance.ensure_healthy()
        except INFRA_ERRORS as exc:
            # The defaults on golden data would not come up: the machine's or knobray's failure, not the config's.
            record.timings["total_s"] = time.perf_counter() - t_start
            return record.fail(f"infrastructure: {exc}", self.instance.log_tail(), TrialStatus.INFRA_ERROR)
        record.engine_version = self._version
        record.timings["prepare_s"] = prepare_s
        result = self.instance.try_apply(native)
        if result.outcome is not ApplyOutcome.APPLIED:
            record.timings["total_s"] = time.perf_counter() - t_start
            status = TrialStatus.CRASHED if result.outcome is ApplyOutcome.CRASHED else TrialStatus.REJECTED
            return record.fail(result.error or "rejected", result.log_tail, status)
        record.applied = result.applied
        record.timings.update(apply_s=result.apply_s, restart_s=result.restart_s)
        self._pristine = not self.workload.writes
        try:
            self._measure(record, on_progress)
        except Exception as exc:  # noqa: BLE001 - failure_status re-raises what is not a trial outcome
            status = failure_status(exc, self.instance.answers(), self.instance.driver_errors)
            record.fail(str(exc) or type(exc).__name__, self.instance.log_tail(), status)
            self._repair()
        else:
            timed_out = record.summary.get("timed_out") or []
            if timed_out:
                limit = self.settings.timeout_s
                record.fail(
                    f"{len(timed_out)} queries ran past the {limit:g}s statement timeout: {', '.join(timed_out)}",
                    None,
                    TrialStatus.TIMED_OUT,
                    keep_objective=True,
                )
        record.timings["total_s"] = time.perf_counter() - t_start
        return record

    def _measure(self, record: TrialRecord, on_progress: Callable[[str], None] | None) -> None:
        db = self.workload.database
        before = snapshot(self.instance, db)
        metrics: dict[str, float] | None = None  # counters a workload took itself
        t0 = time.perf_counter()
        s = self.settings
        if isinstance(self.workload, OlapWorkload):
            queries = self.workload.queries_for(self.instance.dialect)
            olap = run_olap(
                self.instance, db, queries, repeats=s.repeats, timeout_s=s.timeout_s, on_query=on_progress
            )
            record.objective = olap.p95_s if self.objective.name == "p95_latency_s" else olap.total_s
            record.per_query = olap.per_query()
            record.summary = {
                "total_latency_s": olap.total_s,
                "mean_latency_s": olap.mean_s,
                "p95_latency_s": olap.p95_s,
                "timed_out": list(olap.timed_out),
                "repeats": olap.repeats,
                "timeout_s": olap.timeout_s,
            }
        elif isinstance(self.workload, OltpWorkload):
            oltp = run_oltp(
                self.instance,
                self.workload,
                duration_s=s.duration_s,
                warmup_s=s.warmup_s,
                clients=s.clients,
                on_sample=(lambda x: on_progress(f"{x.tps:.0f} tps")) if on_progress else None,
            )
            self._record_oltp(record, oltp)
        elif isinstance(self.workload, EmbeddedWorkload):
            run = self.workload.run(
                self.instance,
                duration_s=s.duration_s,
                on_sample=(lambda tps: on_progress(f"{tps:.0f} tps")) if on_progress else None,
            )
            self._record_oltp(record, run.oltp)
            record.summary["per_txn"] = run.per_txn
            metrics = run.metrics
        record.timings["run_s"] = time.perf_counter() - t0
        record.metrics = metrics if metrics is not None else delta(before, snapshot(self.instance, db))
        if s.plans and isinstance(self.workload, OlapWorkload):
            record.plans = collect_plans(self.instance, db, self.workload.queries_for(self.instance.dialect))

    def _record_oltp(self, record: TrialRecord, oltp: OltpResult) -> None:
        record.objective = oltp.p95_ms if self.objective.name == "p95_latency_ms" else oltp.throughput_tps
        steady = oltp.steady
        record.oltp = {
            "throughput_tps": oltp.throughput_tps,
            "p95_ms": oltp.p95_ms,
            "p99_ms": oltp.p99_ms,
            "samples_tps": list(oltp.samples_tps),
            "duration_s": oltp.duration_s,
            "warmup_s": oltp.warmup_s,
            "clients": oltp.clients,
            "steady": {
                "stable": steady.stable,
                "first_stable_index": steady.first_stable_index,
                "window_mean": steady.window_mean,
                "window_sd": steady.window_sd,
                "window": steady.window,
            },
        }
        record.summary = {
            "throughput_tps": oltp.throughput_tps,
            "p95_ms": oltp.p95_ms,
            "p99_ms": oltp.p99_ms,
            "steady": steady.stable,
        }

    def _repair(self) -> None:
        """Brings the instance back after a failed run; falls back to a fresh clone of the golden data."""
        try:
            self.instance.ensure_healthy()
        except EngineError:
            logger.warning("instance did not recover in place; restoring it from the golden copy")
            self.prepare()
        self._pristine = False
