"""Collecting Berkeley DB runs: the influence diagram's training data (Sullivan's thesis, section 7.2).

Berkeley DB has no SQL, so its runs do not join the corpus of SQL workloads; the collector measures the
thesis's training design instead: ``mixes`` db_perf workloads drawn from table 7.1's mixtures (``random:i``),
each under a random one of the 32 knob combinations (page size, min keys, DB_RMW, deadlock policy), on the pool
of embedded instances in their slots, through Ray Tune, as a search measures. The trial records (with each
run's per-transaction statistics) go to ``OUT/runs/``, which ``python -m trainables.train influence --records``
learns a diagram from. Resumable: a (workload, combination) already measured is not measured again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytune.backends import config_key
from raytune.errors import KnobrayError
from raytune.storage import TrialStore

DBPERF_SF = 5.0  # 122,500 items: the scale the influence diagram is evaluated at


@dataclass(frozen=True)
class DbperfPlan:
    """What to collect: ``mixes`` training runs of db_perf at scale ``sf``, each at most ``duration_s`` long."""

    out: Path
    mixes: int
    sf: float = DBPERF_SF
    duration_s: float = 20.0
    instances: int = 1  # runs at a time: two co-running runs on a 2-core machine measure their contention
    seed: int = 0

    def __post_init__(self) -> None:
        """Raises ``KnobrayError`` for a plan that measures nothing or cannot run."""
        if self.mixes < 1:
            raise KnobrayError(f"--mixes {self.mixes}: give the number of training runs, e.g. --mixes 200")
        if self.sf <= 0 or self.duration_s <= 0 or self.instances < 1:
            raise KnobrayError(
                f"--sf {self.sf:g}, --duration {self.duration_s:g}, --instances {self.instances}: each must be "
                "positive (e.g. --sf 5 --duration 20 --instances 1)"
            )

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"


def run_key(mix: Mapping[str, float], config: Mapping[str, Any]) -> tuple[Any, ...]:
    """A run known by its workload's characteristics and its configuration."""
    return (*sorted((k, float(v)) for k, v in mix.items()), config_key(dict(config)))


def recorded_keys(store: TrialStore) -> set[tuple[Any, ...]]:
    """The keys (``run_key``) of the succeeded db_perf runs in ``store``."""
    return {
        run_key(r["workload"]["mix"], r.get("config") or {})
        for r in store.rows()
        if r.get("status") == "SUCCEEDED" and "mix" in (r.get("workload") or {})
    }


def collect_dbperf(plan: DbperfPlan, on_record: Callable[[dict[str, Any]], None] | None = None) -> TrialStore:
    """Measures the training runs of ``plan`` not recorded yet and returns the store that holds them all."""
    from raytune.trial import MeasureSettings
    from raytune.tune import SearchSpec, WorkloadSpec, measure_given
    from raytune.workloads import parse_mix
    from trainables.influence import training_design

    store = TrialStore(plan.runs_dir)
    done = recorded_keys(store)
    todo = [
        item
        for item in training_design(plan.mixes, plan.seed)
        if run_key(parse_mix(item["mix"]).to_dict(), item["config"]) not in done
    ]
    if todo:
        spec = SearchSpec(results_dir=plan.runs_dir, engine="berkeleydb", workload=WorkloadSpec("dbperf", plan.sf),
                          workload_kind="oltp", settings=MeasureSettings(duration_s=plan.duration_s),
                          optimizer="configs", instances=plan.instances, confirm=0, baselines=False)  # fmt: skip
        measure_given(spec, todo, f"dbperf-{int(time.time())}", on_record=on_record)
        store.compact()
    return store
