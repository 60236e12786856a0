"""Trial outcomes in real searches (real Ray Tune, real PostgreSQL): penalties, infrastructure retries, resume."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from raytune.records import TrialRecord
from raytune.storage import TrialStore
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search

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


def _running_instance_owner(home: Path, since: float) -> int | None:
    """The pid of an instance actor (the owner its directory records) whose server started after ``since``."""
    for owner in (home / "instances").glob("*/owner.json"):
        try:
            if owner.stat().st_mtime < since:
                continue
            doc = json.loads(owner.read_text())
        except (OSError, ValueError):
            continue
        if doc.get("server_pid"):
            return int(doc["pid"])
    return None


def test_a_lost_instance_is_retried_on_a_healthy_slot_and_never_penalised(
    tmp_path: Path, knobray_home: Path
) -> None:
    results = tmp_path / "infra"
    killed: list[int] = []
    since = time.time()

    def kill_instance_mid_trial() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            owner = _running_instance_owner(knobray_home, since)
            if owner:
                time.sleep(0.5)  # its server is up: the trial is applying or measuring
                os.kill(owner, signal.SIGKILL)  # the actor process dies, as on a lost node
                killed.append(owner)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_instance_mid_trial, daemon=True)
    thread.start()
    slow = MeasureSettings(repeats=20, timeout_s=20, plans=False)  # long enough to be killed mid-measurement
    rows = run_search(_spec(results, [{"work_mem": "32MB"}], instances=2, settings=slow)).rows()
    thread.join(timeout=10)
    assert killed, "no instance started a server"
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "SUCCEEDED", row["error"]
    assert "instance actor lost" in row["instance"]["retried_after"]
    assert row["score"] == row["objective"]  # the optimizer saw its measurement, no penalty
