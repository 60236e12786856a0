"""Trial outcomes in real searches (real Ray Tune, real PostgreSQL): penalties, infrastructure retries, resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import ray

from raytune.records import TrialRecord
from raytune.storage import TrialStore
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search
from raytune.tune._pool import POOL_NAMESPACE

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_ray")]

QUICK = MeasureSettings(repeats=1, timeout_s=20, plans=False)
CRASHING = {"max_connections": 10, "superuser_reserved_connections": 20}  # FATAL at start-up


def _spec(results: Path, configs: list[dict], **kw: object) -> SearchSpec:
    defaults: dict = dict(
        results_dir=results,
        workload=WorkloadSpec("tpch", 0.01),
        optimizer="configs",
        configs=configs,
        trials=len(configs),
        instances=1,
        settings=QUICK,
        confirm=0,
        allow_unsafe=True,
    )
    return SearchSpec(**{**defaults, **kw})


def test_a_crashing_config_scores_twice_the_worst_success(tmp_path: Path) -> None:
    rows = run_search(_spec(tmp_path / "crash", [{}, {"work_mem": "8MB"}, CRASHING])).rows()
    by_status = {r["status"]: r for r in rows}
    assert set(by_status) == {"SUCCEEDED", "CRASHED"}, [r["error"] for r in rows]
    ok = [r["objective"] for r in rows if r["status"] == "SUCCEEDED"]
    crashed = by_status["CRASHED"]
    assert crashed["objective"] is None and "superuser_reserved_connections" in crashed["error"]
    assert crashed["score"] == pytest.approx(2 * max(ok))


def test_a_resumed_search_keeps_its_penalty_state(tmp_path: Path) -> None:
    results = tmp_path / "resumed"
    # What the search had recorded before its interruption: a slow success sets the penalty scale.
    TrialStore(results).append(
        TrialRecord(trial_id="before", engine="postgres", objective=50.0, objective_name="total_latency_s"),
        score=50.0,
        optimizer="configs",
    )
    rows = run_search(_spec(results, [CRASHING]), resume=True).rows()
    crashed = [r for r in rows if r["status"] == "CRASHED"]
    assert len(crashed) == 1 and crashed[0]["score"] == pytest.approx(100.0)


def _pool(prefix: str):  # noqa: ANN202 - a Ray actor handle
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for entry in ray.util.list_named_actors(all_namespaces=True):
            if entry["namespace"] == POOL_NAMESPACE and entry["name"].startswith(f"knobray-pool-{prefix}"):
                return ray.get_actor(entry["name"], namespace=POOL_NAMESPACE)
        time.sleep(0.1)
    raise AssertionError("the search's pool never appeared")


def test_a_lost_instance_is_retried_on_a_healthy_slot_and_never_penalised(tmp_path: Path) -> None:
    results = tmp_path / "infra"
    killed: list[int] = []

    def kill_instance_mid_trial() -> None:
        pool = _pool("infra-")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            leases = ray.get(pool.leased.remote())
            if leases:
                node, index = next(iter(leases.values()))
                time.sleep(1.0)  # inside the trial's measurement
                actor = ray.get(pool.instance_handles.remote())[node][index]
                ray.kill(actor, no_restart=False)  # the actor process dies, as on a lost node
                killed.append(index)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_instance_mid_trial, daemon=True)
    thread.start()
    slow = MeasureSettings(repeats=60, timeout_s=20, plans=False)  # long enough to be killed mid-measurement
    rows = run_search(_spec(results, [{"work_mem": "32MB"}], instances=2, settings=slow)).rows()
    thread.join(timeout=10)
    assert killed, "no instance was leased"
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "SUCCEEDED", row["error"]
    assert "instance actor lost" in row["instance"]["retried_after"]
    assert row["score"] == row["objective"]  # the optimizer saw its measurement, no penalty
