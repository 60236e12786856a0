"""Whole trials on real servers: OLAP and OLTP, crash recovery between trials."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.errors import KnobError
from raytune.records import TrialStatus
from raytune.trial import MeasureSettings, TrialRunner
from raytune.workloads import PgbenchWorkload, SysbenchWorkload, TpcWorkload

pytestmark = pytest.mark.slow

FAST_OLAP = MeasureSettings(repeats=1, timeout_s=30)
FAST_OLTP = MeasureSettings(duration_s=6, warmup_s=1, clients=2)


def test_olap_trial_records_everything_and_recovers_from_a_crashing_config(knobray_home: Path) -> None:
    workload = TpcWorkload("tpch", 0.01, knobray_home / "data")
    # allow_unsafe: the crashing config below uses a deny-listed knob on purpose.
    with TrialRunner("postgres", workload, settings=FAST_OLAP, allow_unsafe=True) as runner:
        rec = runner.run({"shared_buffers": "256MB", "work_mem": "64MB"})
        assert rec.status is TrialStatus.SUCCEEDED, rec.error
        assert rec.applied == {"shared_buffers": "32768", "work_mem": "65536"}
        assert rec.objective == pytest.approx(rec.summary["total_latency_s"]) and rec.objective > 0
        assert len(rec.per_query) == 22 and len(rec.plans) == 22
        assert "Plan" in rec.plans["q01"][0]
        assert rec.metrics["db.xact_commit"] > 0
        assert rec.timings["restart_s"] > 0 and rec.engine_version.startswith("18")
        assert rec.hardware["cores"] >= 1

        crashed = runner.run({"shared_preload_libraries": "no_such_library"})
        assert crashed.status is TrialStatus.CRASHED and "no_such_library" in crashed.error
        assert crashed.log_tail and crashed.objective is None

        again = runner.run({"work_mem": "8MB"})
        assert again.status is TrialStatus.SUCCEEDED and again.applied == {"work_mem": "8192"}


def test_invalid_config_raises_before_touching_the_server(knobray_home: Path) -> None:
    runner = TrialRunner("postgres", TpcWorkload("tpch", 0.01, knobray_home / "data"), settings=FAST_OLAP)
    with pytest.raises(KnobError, match="out of range"):
        runner.run({"shared_buffers": "64kB"})
    assert not runner.instance.running
    runner.close()


def test_server_killed_mid_trial_is_failed_then_repaired(knobray_home: Path) -> None:
    workload = TpcWorkload("tpch", 0.01, knobray_home / "data")
    with TrialRunner(
        "postgres", workload, settings=MeasureSettings(repeats=3, timeout_s=30, plans=False)
    ) as runner:

        def kill_once(query: str) -> None:
            if query == "q05" and runner.instance.running:
                runner.instance.kill()

        rec = runner.run({}, on_progress=kill_once)
        assert rec.status is TrialStatus.CRASHED and rec.objective is None
        assert runner.run({}).status is TrialStatus.SUCCEEDED


def test_pgbench_trial(knobray_home: Path) -> None:
    with TrialRunner("postgres", PgbenchWorkload(scale=1), settings=FAST_OLTP) as runner:
        rec = runner.run({"shared_buffers": "64MB"})
    assert rec.status is TrialStatus.SUCCEEDED, rec.error
    assert rec.direction.value == "max" and rec.objective == pytest.approx(rec.oltp["throughput_tps"])
    assert len(rec.oltp["samples_tps"]) >= 5 and rec.oltp["p99_ms"] >= rec.oltp["p95_ms"] > 0
    assert set(rec.oltp["steady"]) >= {"stable", "window_mean", "window_sd"}


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_sysbench_trial(engine: str, knobray_home: Path) -> None:
    with TrialRunner(engine, SysbenchWorkload("sysbench-rw", sf=0.05), settings=FAST_OLTP) as runner:
        rec = runner.run({})
        assert rec.status is TrialStatus.SUCCEEDED, rec.error
        assert rec.objective > 0 and rec.oltp["p95_ms"] > 0
        second = runner.run({})  # a writing workload starts again from the golden copy
        assert second.status is TrialStatus.SUCCEEDED and second.timings["prepare_s"] > 0


def test_statement_timeout_is_timed_out_with_a_censored_objective(knobray_home: Path) -> None:
    workload = TpcWorkload("tpch", 0.01, knobray_home / "data")
    tight = MeasureSettings(repeats=1, timeout_s=0.001, plans=False)  # every query hits the limit
    with TrialRunner("postgres", workload, settings=tight) as runner:
        rec = runner.run({})
    assert rec.status is TrialStatus.TIMED_OUT and "statement timeout" in rec.error
    assert rec.objective is not None and rec.objective >= 0.001 * len(rec.summary["timed_out"])


def test_value_refused_by_a_running_server_is_rejected(knobray_home: Path) -> None:
    # MariaDB refuses innodb_io_capacity above innodb_io_capacity_max at SET time; it stays up.
    with TrialRunner(
        "mariadb", TpcWorkload("tpch", 0.01, knobray_home / "data"), settings=FAST_OLAP
    ) as runner:
        rec = runner.run({"innodb_io_capacity": 8000, "innodb_io_capacity_max": 2000})
        assert rec.status is TrialStatus.REJECTED and rec.objective is None and rec.error
        assert runner.run({}).status is TrialStatus.SUCCEEDED


def test_lost_golden_data_is_an_infrastructure_error_not_the_configs(
    knobray_home: Path, tmp_path: Path
) -> None:
    workload = TpcWorkload("tpch", 0.01, knobray_home / "data")
    with TrialRunner("postgres", workload, settings=FAST_OLAP) as runner:
        assert runner.run({}).status is TrialStatus.SUCCEEDED
        runner._golden_data = tmp_path / "gone"  # noqa: SLF001 - the machine lost the data directory
        runner._pristine = False  # noqa: SLF001 - force the restore from it
        rec = runner.run({"work_mem": "8MB"})
    assert rec.status is TrialStatus.INFRA_ERROR and rec.error.startswith("infrastructure:")
    assert not rec.status.penalised
