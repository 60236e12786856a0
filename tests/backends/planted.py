"""Fake recorded trials with a planted response surface, for pure-logic tests of the tabulated backend and the
in-process search (no server ran: these are not measurements).

The planted TPC-H latency depends on ``shared_buffers`` (best at 2 GB, in 8 kB pages 262144) and ``jit`` (off
is better); every other knob has no effect. ``work_mem`` above 600000 kB is rejected, as a server would refuse
a value it cannot allocate.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from raytune.hardware import Hardware
from raytune.knobs import KnobSpace, load_catalog, tunable_space
from raytune.optimizers import decode, param_specs
from raytune.records import Direction, TrialRecord, TrialStatus
from raytune.storage import TrialStore

HARDWARE = Hardware(cores=1, ram_bytes=12 * 2**30, ssd=True)
WORKLOAD = {"name": "tpch", "kind": "olap", "data": "tpch-sf0.1", "queries_file": None}
BEST_SHARED_BUFFERS = 262144
REJECTED_WORK_MEM = 600000
DEFAULT_LATENCY = 2.0


def space() -> KnobSpace:
    return tunable_space("postgres", load_catalog("postgres"), HARDWARE)


def planted_latency(config: dict[str, Any]) -> float | None:
    """The planted latency of ``config`` (None: rejected)."""
    if int(config.get("work_mem", 4096)) > REJECTED_WORK_MEM:
        return None
    shared = float(config.get("shared_buffers", 16384))
    miss = math.log(shared / BEST_SHARED_BUFFERS) / math.log(384)
    return 1.0 + 3.0 * miss**2 + (0.3 if config.get("jit", "on") == "on" else 0.0)


def record(config: dict[str, Any], trial_id: str, noise: float = 0.0) -> TrialRecord:
    latency = planted_latency(config)
    rec = TrialRecord(
        trial_id=trial_id,
        objective=None if latency is None else latency * (1 + noise),
        objective_name="total_latency_s",
        direction=Direction.MINIMIZE,
        engine="postgres",
        engine_version="18.6",
        workload=dict(WORKLOAD),
        config=dict(config),
        hardware=HARDWARE.to_dict(),
        slot={"cpus": 1, "memory_bytes": HARDWARE.ram_bytes, "ssd": True},
        timings={"total_s": 3.0},
    )
    if latency is None:
        rec.fail("invalid value for parameter work_mem", status=TrialStatus.REJECTED)
    return rec


def planted_records(n: int = 300, seed: int = 0) -> list[TrialRecord]:
    """``n`` random configs plus the default measured three times (noise 1%)."""
    rng = random.Random(seed)
    knobs = space()
    out = [record({}, f"default{i}", noise=rng.uniform(-0.01, 0.01)) for i in range(3)]
    for i in range(n):
        params: dict[str, Any] = {}
        for spec in param_specs(knobs):
            if spec.choices:
                params[spec.name] = rng.choice(spec.choices)
            elif spec.log:
                params[spec.name] = math.exp(rng.uniform(math.log(spec.lower), math.log(spec.upper)))
            else:
                params[spec.name] = rng.uniform(spec.lower, spec.upper)
        out.append(record(decode(knobs, params), f"t{i:04d}", noise=rng.uniform(-0.01, 0.01)))
    return out


def write_planted(results: Path, n: int = 300, seed: int = 0) -> Path:
    """A results directory holding the planted records, as a search would have written them."""
    store = TrialStore(results)
    for i, rec in enumerate(planted_records(n, seed)):
        rec.started_at = 1_700_000_000.0 + i
        store.append(rec, score=rec.objective, optimizer="random")
    return results


def planted_rows(n: int = 300, seed: int = 0) -> list[dict[str, Any]]:
    """The planted records as trial-store rows, without writing files."""
    rows = []
    for i, rec in enumerate(planted_records(n, seed)):
        row = rec.to_dict()
        row.update(started_at=1_700_000_000.0 + i, score=rec.objective, optimizer="random", baseline=None)
        row.update(confirms=None, round=None)
        rows.append(row)
    return rows
