"""Training examples from Berkeley DB trial records: every variable of the diagram per run (thesis table 7.3).

Measured per run: the workload characteristics (the mix), the knobs, the layout from the database's statistics
(leaf and overflow pages), and per committed transaction memory-pool misses, page faults, lock waits, items and
overflow items read. Leaf pages per transaction are estimated from the items read and the layout (items per
leaf page), where the thesis instrumented Berkeley DB; the other intermediates follow the thesis's formulas.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune.errors import KnobrayError
from trainables.influence._structure import COMBINATIONS, DECISIONS, MIX

logger = logging.getLogger(__name__)

MB = 1024 * 1024
LEAF_LOCALITY = 90.0  # def_leaf_loc, fixed in the thesis's experiments
# How ``derived`` computes the variables whose units were chosen here, not by the thesis (a formula over the
# mix and the other facts): a saved diagram records them, and one learned under another definition is refused.
DERIVED_UNITS = {"conflicts": "concurrency * pct_wlocks * pct_loc_txn / 100"}
# What a diagram saved before the definitions were recorded used (frozen: a key added to DERIVED_UNITS later
# refuses every older diagram with that node).
UNRECORDED_UNITS = {"conflicts": "concurrency * pct_wlocks * pct_loc_txn / 100"}


@dataclass(frozen=True)
class Examples:
    """One row per run: raw values per variable (decisions as their state labels) and the throughput."""

    columns: dict[str, np.ndarray]
    throughput: np.ndarray

    def __len__(self) -> int:
        return len(self.throughput)

    def subset(self, index: np.ndarray) -> Examples:
        return Examples({k: v[index] for k, v in self.columns.items()}, self.throughput[index])


def decision_states(applied: Mapping[str, Any]) -> dict[str, str]:
    """The thesis's decision states of an applied configuration (knobs left out are at their defaults)."""
    page = str(applied.get("page_size", "8192"))
    min_keys = int(applied.get("min_keys", 2))
    rmw = str(applied.get("db_rmw", "off")).lower() in ("on", "true", "1")
    return {
        "page_size": page,
        "min_keys": "2" if min_keys == 2 else "4/16",
        "db_rmw": "on" if rmw else "off",
        "deadlock_policy": str(applied.get("deadlock_policy", "random")),
    }


def knob_config(states: Mapping[str, str]) -> dict[str, Any]:
    """The configuration of decision states ("4/16" becomes 4 with 2K pages, 16 with 8K)."""
    page = int(states["page_size"])
    min_keys = 2 if states["min_keys"] == "2" else (4 if page == 2048 else 16)
    return {"page_size": str(page), "min_keys": min_keys, "db_rmw": states["db_rmw"],
            "deadlock_policy": states["deadlock_policy"]}  # fmt: skip


def is_thesis_combination(applied: Mapping[str, Any]) -> bool:
    """Whether an applied configuration is one of the thesis's 32 (a search may try other page sizes, minimum
    keys and policies, which the diagram's decisions cannot describe)."""
    states = decision_states(applied)
    return all(states[d] in DECISIONS[d] for d in DECISIONS) and int(applied.get("min_keys", 2)) == int(
        knob_config(states)["min_keys"]
    )


def training_design(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """The thesis's training runs: workload ``random:i`` (a draw from table 7.1's mixtures) under a random one of
    the 32 combinations, for i < ``n``, as items for ``raytune.tune.measure_given``."""
    rng = random.Random(seed)
    return [{"mix": f"random:{i}", "config": knob_config(rng.choice(COMBINATIONS)), "label": "train"}
            for i in range(n)]  # fmt: skip


def derived(mix: Mapping[str, float], states: Mapping[str, str], layout: Mapping[str, float],
            per_txn: Mapping[str, float]) -> dict[str, float]:  # fmt: skip
    """The diagram's layout facts and intermediates for one run (thesis table 7.3, equations 16-17)."""
    page = float(states["page_size"])
    leaves, overflows = layout["leaf_pages"], layout["overflow_pages"]
    leaves_txn, oflw_txn = per_txn["leaves"], per_txn["overflows"]
    page_loc = mix["def_page_loc"]
    pct_writes = mix["pct_updates"] * mix["pct_writes_upd"] / 100
    pct_wlocks = pct_writes if states["db_rmw"] == "off" else mix["pct_updates"]
    pct_loc_txn = 100 * leaves_txn / max(page_loc / 100 * leaves, 1e-9)
    return {
        "leaves": leaves,
        "overflows": overflows,
        "db_size": (leaves + overflows) * page / MB,
        "leaves_txn": leaves_txn,
        "oflw_txn": oflw_txn,
        "pages_txn": leaves_txn + oflw_txn,
        "page_loc": page_loc,
        "loc_size": page_loc / 100 * leaves * page / MB,
        "loc_rate": LEAF_LOCALITY * leaves_txn / max(leaves_txn + oflw_txn, 1e-9),
        "pct_loc_txn": pct_loc_txn,
        "pct_writes": pct_writes,
        "pct_wlocks": pct_wlocks,
        # concurrency x pct_wlocks/100 x pct_loc_txn/100, x 100 like its factors (percentages): MDL's candidate
        # cuts are rounded to one decimal, and the unscaled product is below 0.12 for half of the runs
        "conflicts": mix["concurrency"] * pct_wlocks * pct_loc_txn / 100,
    }


def example_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every variable of one succeeded dbperf record (None for another engine, workload, a failed run or a
    configuration outside the thesis's 32 combinations)."""
    workload = row.get("workload") or {}
    per_txn = (row.get("summary") or {}).get("per_txn")
    if (
        row.get("engine") != "berkeleydb"
        or row.get("status") != "SUCCEEDED"
        or not per_txn
        or "mix" not in workload
    ):
        return None
    if not is_thesis_combination(row.get("applied") or {}):
        return None
    mix = {k: float(workload["mix"][k]) for k in MIX}
    states = decision_states(row.get("applied") or {})
    layout = {k: per_txn[f"layout.{k}"] for k in ("leaf_pages", "overflow_pages")}
    values = {"misses_txn": per_txn["misses"], "waits_txn": per_txn["waits"], "faults_txn": per_txn["faults"],
              "deadlocks_txn": per_txn.get("deadlocks", 0.0)}  # fmt: skip
    return {
        **mix,
        **states,
        **derived(mix, states, layout, per_txn),
        **values,
        "throughput": float(row["objective"]),
    }


def examples_from_rows(rows: Iterable[Mapping[str, Any]]) -> Examples:
    """The examples of every usable record.

    Raises:
        KnobrayError: No record is a succeeded Berkeley DB dbperf run.
    """
    rows = list(rows)
    found = [e for e in (example_of(r) for r in rows) if e is not None]
    if len(found) < len(rows):
        logger.info("%d of %d records are not succeeded dbperf runs of the 32 combinations: left out",
                    len(rows) - len(found), len(rows))  # fmt: skip
    if not found:
        raise KnobrayError(
            f"none of the {len(rows)} records is a succeeded Berkeley DB dbperf run of the thesis's 32 knob "
            "combinations; collect them with bench/influence.py"
        )
    names = [k for k in found[0] if k != "throughput"]
    columns = {k: np.array([e[k] for e in found], dtype=object if isinstance(found[0][k], str) else float)
               for k in names}  # fmt: skip
    return Examples(columns, np.array([e["throughput"] for e in found], dtype=float))


def derived_units(names: Iterable[str]) -> dict[str, str]:
    """The definitions (``DERIVED_UNITS``) of those of ``names`` whose units were chosen here."""
    return {n: DERIVED_UNITS[n] for n in names if n in DERIVED_UNITS}


def check_units(names: Iterable[str], meta: Mapping[str, Any], source: object) -> None:
    """Refuses a saved diagram (nodes ``names``, ``meta`` as saved) whose derived variables were computed
    differently from ``derived`` today.

    Raises:
        KnobrayError: A variable of ``names`` recorded under another definition (or none).
    """
    saved = meta.get("derived_units")
    for name, now in derived_units(names).items():
        then = (UNRECORDED_UNITS if saved is None else saved).get(name)
        if then != now:
            records = " ".join(f"--records {r}" for r in meta.get("records") or ["DIR"])
            structure = meta.get("variant", "NAME")
            retrain = f"python -m trainables.train influence {records} --out DIR --structure {structure}"
            raise KnobrayError(f"{source}: its {name} node was learned as {then or 'an unrecorded definition'}, "
                               f"knobray now computes {now}; train the diagram again: {retrain}")  # fmt: skip
