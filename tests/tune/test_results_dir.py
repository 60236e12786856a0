"""A new search never mixes its trials with an earlier search's records (no Ray needed: it fails first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.errors import KnobrayError
from raytune.records import TrialRecord
from raytune.storage import TrialStore
from raytune.tune import SearchSpec, WorkloadSpec, check_results_dir, run_search


def _earlier_search(results: Path) -> TrialStore:
    store = TrialStore(results)
    store.append(TrialRecord(trial_id="t1", engine="postgres", objective=2.0), score=2.0, optimizer="tpe")
    return store


def test_new_search_over_earlier_records_is_refused_and_keeps_them(tmp_path: Path) -> None:
    store = _earlier_search(tmp_path)
    spec = SearchSpec(results_dir=tmp_path, engine="postgres", workload=WorkloadSpec("tpch", 0.01))
    with pytest.raises(KnobrayError, match="already holds 1 trial records.*--resume"):
        run_search(spec)
    assert [r["trial_id"] for r in store.rows()] == ["t1"]


def test_resume_and_empty_directories_pass(tmp_path: Path) -> None:
    _earlier_search(tmp_path / "old")
    check_results_dir(tmp_path / "old", resume=True)
    check_results_dir(tmp_path / "new", resume=False)
    assert not (tmp_path / "new").exists()
