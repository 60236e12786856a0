"""A backend that replays recorded trials instead of running a server (as syne-tune's simulator does).

A requested configuration is looked up among the recorded ones of the same engine and workload: an exact match
(same knob values) replays that record, else the nearest recorded configuration in the optimizer's normalised
parameter space does (numbers scaled to [0, 1] between their bounds, on a log scale where the knob is searched
on one; a differing choice counts as distance 1). A configuration recorded several times (the default, the
confirmation runs) replays its measurements in turn, so the replay keeps the measured noise. Failures replay
too: a recorded REJECTED or CRASHED configuration is rejected or crashes again.

Time is simulated: each replayed record keeps the timings measured when it was recorded, and the search adds
them to a simulated clock instead of waiting.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raytune.errors import KnobrayError
from raytune.knobs import KnobSpace
from raytune.optimizers import ParamKind, encode, param_specs, unit_position
from raytune.records import Direction, TrialRecord, TrialStatus
from raytune.slots import SlotShape
from raytune.storage import TrialStore

REPLAYED = tuple(s.value for s in TrialStatus if s is not TrialStatus.INFRA_ERROR)


def config_key(config: Mapping[str, Any]) -> str:
    """One text per distinct configuration (values compared as text, so 128 and '128' are the same)."""
    return json.dumps({k: str(v) for k, v in config.items()}, sort_keys=True)


def load_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The trial rows of results directories (each holding ``trials.parquet``), in start order.

    Raises:
        KnobrayError: A path holds no trial records.
    """
    rows: list[dict[str, Any]] = []
    for path in paths:
        found = TrialStore(Path(path)).rows()
        if not found:
            raise KnobrayError(
                f"{path} holds no trial records; pass a search's --results directory or a corpus directory"
            )
        rows.extend(found)
    return sorted(rows, key=lambda r: r["started_at"] or 0.0)


def select_rows(
    rows: Sequence[dict[str, Any]],
    engine: str,
    workload: Mapping[str, Any] | None = None,
    objective: str | None = None,
) -> list[dict[str, Any]]:
    """The replayable rows of one engine, workload (a workload's ``describe()``) and objective.

    Raises:
        KnobrayError: Nothing matches, or the rows hold several workloads and none was named.
    """
    wanted = workload_key(workload) if workload else None
    chosen = [
        r
        for r in rows
        if r["engine"] == engine
        and r["status"] in REPLAYED
        and (wanted is None or workload_key(r["workload"]) == wanted)
        and (objective is None or r["objective_name"] == objective)
    ]
    if not chosen:
        held = ", ".join(sorted({f"{r['engine']} {workload_key(r['workload'])}" for r in rows}))
        what = f"{engine} {wanted or ''}".strip() + (f" ({objective})" if objective else "")
        raise KnobrayError(
            f"the records hold no trials of {what} (they hold: {held}); check --engine, --workload, --sf "
            "and --objective"
        )
    data = sorted({workload_key(r["workload"]) for r in chosen})
    if len(data) > 1:
        raise KnobrayError(
            f"the records hold {len(data)} workloads ({', '.join(data)}); pick one with --workload and --sf"
        )
    return chosen


def workload_key(w: Mapping[str, Any]) -> str:
    """``tpch-sf0.1``, ``pgbench-sf10``, or with a query file ``tpch-sf1:/path/q.wg``: one per workload."""
    return str(w.get("data") or w.get("name")) + (f":{w['queries_file']}" if w.get("queries_file") else "")


def recorded_shape(rows: Sequence[dict[str, Any]]) -> SlotShape:
    """The slot shape the rows were measured in (the first row's; the knob bounds follow it)."""
    for row in rows:
        slot, hw = row.get("slot") or {}, row.get("hardware") or {}
        if slot.get("cpus"):
            return SlotShape(int(slot["cpus"]), int(slot["memory_bytes"]), bool(slot.get("ssd", True)))
        if hw.get("cores"):
            return SlotShape(int(hw["cores"]), int(hw["ram_bytes"]), bool(hw.get("ssd", True)))
    raise KnobrayError("the records say nothing about the hardware they were measured on")


class TabulatedBackend:
    """Replays recorded trials of one engine and workload (see the module docstring)."""

    name = "tabulated"

    def __init__(self, rows: Sequence[dict[str, Any]], space: KnobSpace) -> None:
        if not rows:
            raise KnobrayError("a tabulated backend needs at least one recorded trial")
        self.rows = list(rows)
        self.space = space
        self.specs = param_specs(space)
        self._groups: dict[str, list[int]] = {}
        for i, row in enumerate(self.rows):
            self._groups.setdefault(config_key(row["config"]), []).append(i)
        self._turn: dict[str, int] = {}
        self._keys = list(self._groups)
        numbers, choices = zip(
            *(self._vector(self.rows[g[0]]["config"]) for g in self._groups.values()), strict=True
        )
        self._numbers = np.array(numbers, dtype=float).reshape(len(self._keys), -1)
        self._choices = np.array(choices, dtype=object).reshape(len(self._keys), -1)

    def _vector(self, config: Mapping[str, Any]) -> tuple[list[float], list[str]]:
        params = encode(self.space, {k: _number(v) for k, v in config.items()})
        numbers: list[float] = []
        choices: list[str] = []
        for spec in self.specs:
            value = params[spec.name]
            if spec.kind is ParamKind.CHOICE:
                choices.append(str(value))
            else:
                numbers.append(unit_position(spec, value))
        return numbers, choices

    def nearest(self, config: Mapping[str, Any]) -> tuple[str, float]:
        """The key of the recorded configuration closest to ``config`` and its distance (0: exact)."""
        key = config_key(config)
        if key in self._groups:
            return key, 0.0
        numbers, choices = self._vector(config)
        distance = np.zeros(len(self._keys))
        if self._numbers.size:
            distance += ((self._numbers - np.array(numbers)) ** 2).sum(axis=1)
        if self._choices.size:
            distance += (self._choices != np.array(choices, dtype=object)).sum(axis=1)
        best = int(np.argmin(distance))
        return self._keys[best], float(math.sqrt(distance[best]))

    def measure(self, config: Mapping[str, Any], trial_id: str) -> TrialRecord:
        key, distance = self.nearest(config)
        group = self._groups[key]
        turn = self._turn.get(key, 0)
        self._turn[key] = turn + 1
        row = self.rows[group[turn % len(group)]]
        return replay(
            row, config, trial_id, {"backend": self.name, "replays": row["trial_id"], "distance": distance}
        )

    def close(self) -> None:
        return None


def replay(
    row: Mapping[str, Any], config: Mapping[str, Any], trial_id: str, instance: dict[str, Any]
) -> TrialRecord:
    """A new record for ``trial_id`` carrying the measurements of the recorded ``row``."""
    return TrialRecord(
        trial_id=trial_id,
        status=TrialStatus(row["status"]),
        objective=row["objective"],
        objective_name=row["objective_name"],
        direction=Direction(row["direction"]),
        engine=row["engine"],
        engine_version=row["engine_version"] or "",
        workload=dict(row["workload"]),
        config=dict(config),
        applied=dict(row.get("applied") or {}),
        per_query=dict(row.get("per_query") or {}),
        oltp=dict(row.get("oltp") or {}),
        summary=dict(row.get("summary") or {}),
        metrics=dict(row.get("metrics") or {}),
        hardware=dict(row.get("hardware") or {}),
        slot=dict(row.get("slot") or {}),
        timings=dict(row.get("timings") or {}),
        instance=instance,
        error=row.get("error"),
        started_at=time.time(),
    )


def _number(value: Any) -> Any:
    """Recorded values may be text ('128'); the encoder wants numbers for numeric knobs."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value
