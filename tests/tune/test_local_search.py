"""Searches on the tabulated backend: the stages, optimizers, penalties, resume and confirmation of the real
search, run in this process over planted records (no server, no Ray workers: pure logic, fast lane)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from raytune.backends import TabulatedBackend
from raytune.confirmation import search_rows
from raytune.records import TrialRecord, TrialStatus
from raytune.search import summarize
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search
from tests.backends import planted


def _spec(results: Path, optimizer: str, **kw: Any) -> SearchSpec:
    base: dict[str, Any] = {
        "results_dir": results,
        "engine": "postgres",
        "workload": WorkloadSpec("tpch", 0.1),
        "optimizer": optimizer,
        "trials": 12,
        "instances": 2,
        "seed": 1,
        "settings": MeasureSettings(repeats=1, timeout_s=30),
        "slot_cpus": 1,
        "slot_memory_bytes": planted.HARDWARE.ram_bytes,
        "confirm": 2,
        "confirm_rounds": 2,
        "backend": "tabulated",
    }
    return SearchSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return planted.planted_rows(400)


def _tabulated(rows: list[dict[str, Any]]) -> TabulatedBackend:
    return TabulatedBackend(rows, planted.space())


@pytest.mark.parametrize("optimizer", ["random", "tpe", "hebo", "smac"])
def test_every_optimizer_runs_every_stage(tmp_path: Path, rows: list[dict[str, Any]], optimizer: str) -> None:
    store = run_search(_spec(tmp_path / optimizer, optimizer), backend=_tabulated(rows))
    got = store.rows()
    search = search_rows(got)
    assert len(search) == 12
    assert [r["baseline"] for r in search[:2]] == ["default", "rules"]
    assert {r["optimizer"] for r in search[2:]} == {optimizer}
    confirms = [r for r in got if r["confirms"]]
    assert len(confirms) == (2 + 2) * 2  # default, rules and 2 candidates, 2 rounds each
    assert all(r["instance"]["backend"] == "tabulated" for r in got)
    summary = summarize(got)
    assert summary.confirmation is not None
    assert summary.crowned_config is not None
    # The planted default is 1.0 + 3.0 * (log(16384/262144)/log(384))**2 + 0.3 = 1.95 s; every optimizer
    # finds a config at least 10% faster in 10 trials (random configs reach that with probability > 0.99).
    default = planted.planted_latency({})
    assert default is not None
    assert summary.best is not None and summary.best < 0.9 * default


def test_failures_score_the_penalty_and_infra_errors_nothing(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    rejected = [r["config"] for r in rows if r["status"] == "REJECTED"][:2]
    flaky = _InfraOnce(_tabulated(rows))
    spec = _spec(tmp_path / "p", "configs", configs=[*rejected, rows[10]["config"]], confirm=0)
    got = search_rows(run_search(spec, backend=flaky).rows())
    by_status = {r["status"]: r for r in got}
    worst_before = None
    for r in got:  # each penalty is twice the worst success seen before it
        if r["status"] == "REJECTED":
            assert r["score"] == pytest.approx(2 * worst_before) if worst_before else r["score"] > 1000
        elif r["status"] == "SUCCEEDED":
            worst_before = max(worst_before or 0.0, r["objective"])
    assert by_status["INFRA_ERROR"]["score"] is None
    assert len(got) == 3


def test_resume_finishes_the_search_with_every_trial_once(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    spec = _spec(tmp_path / "r", "tpe")
    with pytest.raises(KeyboardInterrupt):
        run_search(spec, backend=_StopAfter(_tabulated(rows), 7))
    assert len(search_rows(_rows(tmp_path / "r"))) == 7
    store = run_search(spec, backend=_tabulated(rows), resume=True)
    got = store.rows()
    assert len(search_rows(got)) == 12
    assert len([r for r in got if r["confirms"]]) == 8
    assert len({r["trial_id"] for r in got}) == len(got)
    # Interrupted again during confirmation, resumed: the schedule is completed, not repeated.
    spec2 = _spec(tmp_path / "c", "random")
    with pytest.raises(KeyboardInterrupt):
        run_search(spec2, backend=_StopAfter(_tabulated(rows), 15))
    got2 = run_search(spec2, backend=_tabulated(rows), resume=True).rows()
    assert sorted((r["confirms"] == "default", r["round"]) for r in got2 if r["confirms"]) == sorted(
        (r["confirms"] == "default", r["round"]) for r in got if r["confirms"]
    )


def test_a_resumed_search_keeps_its_penalty_state(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    ok = [r for r in rows if r["status"] == "SUCCEEDED" and r["config"]]
    slow = max(ok, key=lambda r: r["objective"])
    bad = next(r for r in rows if r["status"] == "REJECTED")
    spec = _spec(
        tmp_path / "k", "configs", configs=[slow["config"], ok[0]["config"], bad["config"]], confirm=0
    )
    with pytest.raises(KeyboardInterrupt):
        run_search(spec, backend=_StopAfter(_tabulated(rows), 2))
    got = search_rows(run_search(spec, backend=_tabulated(rows), resume=True).rows())
    penalised = next(r for r in got if r["status"] == "REJECTED")
    assert penalised["score"] == pytest.approx(2 * slow["objective"])


def test_time_budget_bounds_the_simulated_clock(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    # Each planted trial took 3 s on one of 2 instances: 1.5 simulated seconds; a 6 s budget allows 4 trials.
    spec = _spec(tmp_path / "b", "random", trials=50, time_budget_s=6.0, confirm=0)
    got = search_rows(run_search(spec, backend=_tabulated(rows)).rows())
    assert len(got) == 2 + 4


def _rows(results: Path) -> list[dict[str, Any]]:
    from raytune.storage import TrialStore

    return TrialStore(results).rows()


class _StopAfter:
    """Wraps a backend and interrupts the search (as Ctrl-C would) after ``n`` measurements."""

    name = "tabulated"

    def __init__(self, inner: TabulatedBackend, n: int) -> None:
        self.inner, self.left = inner, n

    def measure(self, config: Mapping[str, Any], trial_id: str) -> TrialRecord:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.measure(config, trial_id)

    def close(self) -> None:
        return None


class _InfraOnce:
    """Wraps a backend; its first measurement is an infrastructure failure (a fake, for the scoring logic)."""

    name = "tabulated"

    def __init__(self, inner: TabulatedBackend) -> None:
        self.inner, self.failed = inner, False

    def measure(self, config: Mapping[str, Any], trial_id: str) -> TrialRecord:
        rec = self.inner.measure(config, trial_id)
        if not self.failed:
            self.failed = True
            rec.fail("disk full", status=TrialStatus.INFRA_ERROR)
        return rec

    def close(self) -> None:
        return None
