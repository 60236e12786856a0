"""The Ray Tune trainable: lease an instance on this node, run the trial on it, release, report."""

from __future__ import annotations

import json
import time
from typing import Any

import ray
from ray import tune

from raytune.tune._pool import POOL_NAMESPACE

ACQUIRE_TIMEOUT_S = 600.0
CONFIG_KEY = (
    "__config__"  # JSON {"label": ..., "config": {...}}: a given configuration (baselines, ``configs``)
)


def make_trainable(
    pool_name: str, knob_space: Any, direction: str, penalty_factor: float, fallback: float
) -> Any:
    """A function trainable bound to the pool ``pool_name`` and the knob space the parameters decode into."""
    from raytune.optimizers import decode

    def trial(params: dict[str, Any]) -> None:
        trial_id = tune.get_context().get_trial_id()
        node_id = ray.get_runtime_context().get_node_id()
        pool = ray.get_actor(pool_name, namespace=POOL_NAMESPACE)
        label = None
        if CONFIG_KEY in params:
            given = json.loads(params[CONFIG_KEY])
            label, config = given.get("label"), given["config"]
        else:
            config = decode(knob_space, params)
        deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
        lease = ray.get(pool.acquire.remote(trial_id, node_id))
        while lease is None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no free database instance on node {node_id} after {ACQUIRE_TIMEOUT_S:.0f}s"
                )
            time.sleep(0.5)
            lease = ray.get(pool.acquire.remote(trial_id, node_id))
        index, instance = lease
        try:
            record = ray.get(instance.run.remote(config, trial_id))
        finally:
            ray.get(pool.release.remote(trial_id))
        score = ray.get(pool.score.remote(record["objective"], direction, penalty_factor, fallback))
        record["instance"] = {"node_id": node_id, "index": index}
        tune.report(
            {
                "score": score,
                "objective": record["objective"],
                "failed": record["status"] != "SUCCEEDED",
                "baseline": label,
                "record": json.dumps(record, default=str),
            }
        )

    return trial
