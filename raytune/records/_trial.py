"""The record every trial produces, successful or not."""

from __future__ import annotations

import enum
import json
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class TrialStatus(enum.StrEnum):
    """How a trial ended."""

    SUCCEEDED = "SUCCEEDED"
    REJECTED = "REJECTED"  # the server refused the config, or a query or client failed under it
    CRASHED = "CRASHED"  # the server died or did not start under the config
    TIMED_OUT = "TIMED_OUT"  # the workload ran past its limit (a statement timeout, a client deadline)
    INFRA_ERROR = "INFRA_ERROR"  # knobray or the machine failed: not the config's fault, never penalised
    FAILED = "FAILED"  # records written before the four causes above were told apart

    @property
    def penalised(self) -> bool:
        """Whether the config itself is to blame, so the optimizer sees a penalty."""
        return self in (TrialStatus.REJECTED, TrialStatus.CRASHED, TrialStatus.TIMED_OUT, TrialStatus.FAILED)


class Direction(enum.StrEnum):
    MINIMIZE = "min"
    MAXIMIZE = "max"


def new_trial_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class TrialRecord:
    """Everything about one measured configuration.

    Attributes:
        trial_id: Unique id.
        status: SUCCEEDED, REJECTED, CRASHED, TIMED_OUT or INFRA_ERROR.
        objective: The number optimised: total latency in seconds (OLAP) or throughput in tps (OLTP);
            ``None`` unless SUCCEEDED, except TIMED_OUT OLAP runs, which keep their censored total (a lower
            bound: each timed-out query counted at the timeout).
        objective_name: ``total_latency_s`` or ``throughput_tps``.
        direction: Whether lower (``min``) or higher (``max``) is better.
        engine: ``postgres`` or ``mariadb``.
        engine_version: The server's version string.
        workload: Workload description (name, kind, data key, query file).
        config: The requested configuration, as given (knob -> value text).
        applied: Values read back from the server (native units), after applying.
        per_query: OLAP: query -> {latency_s, samples_s, timed_out}.
        oltp: OLTP: throughput, p95/p99 latency, per-second samples, steady-state check.
        summary: Headline numbers (total/mean/p95 latency or throughput and tails).
        metrics: Internal counter deltas over the measured run.
        plans: Query -> EXPLAIN (FORMAT JSON) plan.
        hardware: What knob bounds were relative to: the slot's cores, RAM and disk type.
        slot: The slot the trial ran in: shape, CPU set, and how CPU and memory limits were enforced.
        timings: Seconds spent per phase (prepare, apply, restart, warmup, run, total).
        instance: Where it ran, in a search: Ray node id and instance index on that node.
        error: One-line reason unless SUCCEEDED.
        log_tail: The server log's last lines unless SUCCEEDED.
        started_at: Unix time the trial started.
    """

    trial_id: str = field(default_factory=new_trial_id)
    status: TrialStatus = TrialStatus.SUCCEEDED
    objective: float | None = None
    objective_name: str = ""
    direction: Direction = Direction.MINIMIZE
    engine: str = ""
    engine_version: str = ""
    workload: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)
    per_query: dict[str, Any] = field(default_factory=dict)
    oltp: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    plans: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    slot: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    instance: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log_tail: str | None = None
    started_at: float = field(default_factory=time.time)

    def fail(
        self,
        error: str,
        log_tail: str | None = None,
        status: TrialStatus = TrialStatus.REJECTED,
        *,
        keep_objective: bool = False,
    ) -> TrialRecord:
        """Marks the trial ``status`` with ``error`` (one line) and the server log tail."""
        if status is TrialStatus.SUCCEEDED:
            raise ValueError("fail() needs a failure status")
        self.status = status
        if not keep_objective:
            self.objective = None
        self.error = error.strip().splitlines()[0] if error.strip() else "unknown error"
        self.log_tail = log_tail
        return self

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["direction"] = self.direction.value
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["status"] = TrialStatus(kwargs.get("status", "SUCCEEDED"))
        kwargs["direction"] = Direction(kwargs.get("direction", "min"))
        return cls(**kwargs)
