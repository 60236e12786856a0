"""The Ray Tune trainable: lease an instance on this node, run the trial on it, release, report.

Outcomes: a config's own failures (REJECTED, CRASHED, TIMED_OUT) are reported with the objective's penalty. An
infrastructure failure (a lost instance actor, a server that will not come up with its defaults, a full disk)
is retried once on another slot; a second one raises ``InfraError``, which Ray Tune records as an errored trial
that no optimizer learns from. Any other exception is a bug and propagates.
"""

from __future__ import annotations

import json
import time
from typing import Any

import ray
from ray import tune
from ray.exceptions import RayActorError, RayTaskError

from raytune.errors import INFRA_ERRORS, InfraError, first_line
from raytune.records import TrialRecord, TrialStatus
from raytune.tune._pool import POOL_NAMESPACE, TrialVariant

ACQUIRE_TIMEOUT_S = 600.0
# JSON {"label": ..., "config": {...}, "confirms": ..., "round": ..., "queries_file": ..., "plans": ..., "mix": ...}:
# a given configuration (baselines, ``configs``, confirmation runs, corpus and dbperf collections).
CONFIG_KEY = "__config__"


def _lease(pool: Any, trial_id: str, node_id: str, avoid: int | None) -> tuple[int, Any]:
    deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
    lease = ray.get(pool.acquire.remote(trial_id, node_id, avoid))
    while lease is None:
        if time.monotonic() > deadline:
            raise InfraError(f"no free database instance on node {node_id} after {ACQUIRE_TIMEOUT_S:.0f}s")
        time.sleep(0.5)
        lease = ray.get(pool.acquire.remote(trial_id, node_id, avoid))
    return lease


class RayPoolBackend:
    """The trial backend of real searches: a database instance of the search's pool on this trial's node.

    An infrastructure failure is retried once on another slot; a second one raises ``InfraError``.
    """

    name = "pool"

    def __init__(self, pool: Any, node_id: str, variant: TrialVariant | None = None) -> None:
        self.pool = pool
        self.node_id = node_id
        self.variant = variant
        self.index: int | None = None  # the instance the last trial ran on

    def measure(self, config: dict[str, Any], trial_id: str) -> TrialRecord:
        """The trial's record; ``index`` is then the instance it ran on."""
        index, record, infra = self._attempt(config, trial_id)
        if infra is not None:
            first = infra
            index, record, infra = self._attempt(config, trial_id, avoid=index)
            if infra is not None:
                raise InfraError(f"infrastructure failure on two slots: {first}; then: {infra}")
            assert record is not None
            record.setdefault("instance", {})["retried_after"] = first
        assert record is not None
        self.index = index
        return TrialRecord.from_dict(record)

    def _attempt(
        self, config: dict[str, Any], trial_id: str, avoid: int | None = None
    ) -> tuple[int, dict[str, Any] | None, str | None]:
        """One attempt: (instance index, record or None, infrastructure failure or None)."""
        index, instance = _lease(self.pool, trial_id, self.node_id, avoid)
        try:
            record = ray.get(instance.run.remote(config, trial_id, self.variant))
        except RayActorError as exc:
            return index, None, f"instance actor lost: {first_line(exc)}"
        except RayTaskError as exc:
            if isinstance(exc.cause, INFRA_ERRORS):
                return index, None, f"instance failed: {first_line(exc.cause)}"
            raise  # a bug in knobray: it must be seen, not scored
        finally:
            ray.get(self.pool.release.remote(trial_id))
        if record["status"] == TrialStatus.INFRA_ERROR:
            return index, record, record["error"]
        return index, record, None

    def close(self) -> None:
        return None


def make_trainable(pool_name: str, knob_space: Any) -> Any:
    """A function trainable bound to the pool ``pool_name`` and the knob space the parameters decode into."""
    from raytune.optimizers import decode

    def trial(params: dict[str, Any]) -> None:
        trial_id = tune.get_context().get_trial_id()
        node_id = ray.get_runtime_context().get_node_id()
        pool = ray.get_actor(pool_name, namespace=POOL_NAMESPACE)
        given: dict[str, Any] = json.loads(params[CONFIG_KEY]) if CONFIG_KEY in params else {}
        config = given["config"] if given else decode(knob_space, params)
        variant = (
            TrialVariant(given.get("queries_file"), given.get("plans"), given.get("mix")) if given else None
        )
        backend = RayPoolBackend(pool, node_id, variant)
        record = backend.measure(config, trial_id)
        status = record.status
        censored = record.objective if status is TrialStatus.TIMED_OUT else None
        value = record.objective if status is TrialStatus.SUCCEEDED else None
        score = ray.get(pool.score.remote(value, status.penalised, censored))
        record.instance = {**record.instance, "node_id": node_id, "index": backend.index}
        tune.report(
            {
                "score": score,
                "objective": value,
                "failed": status is not TrialStatus.SUCCEEDED,
                "baseline": given.get("label"),
                "confirms": given.get("confirms"),
                "round": given.get("round"),
                "record": record.to_json(indent=None),
            }
        )

    return trial
