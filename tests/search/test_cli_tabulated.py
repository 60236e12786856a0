"""``python -m raytune.search --backend tabulated`` as a user runs it, over planted records (no server, no Ray
workers: the search runs in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytune.importance import KnobRanking
from raytune.search._cli import main
from raytune.storage import TrialStore
from tests.backends import planted


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted.write_planted(tmp_path_factory.mktemp("rec") / "records", n=150)


def _args(records: Path, results: Path, *extra: str) -> list[str]:
    return [
        "--backend", "tabulated", "--records", str(records), "--results", str(results), "--trials", "10",
        "--optimizer", "tpe", "--confirm", "2", "--confirm-rounds", "2", *extra,
    ]  # fmt: skip


def test_tabulated_search_reports_and_writes_best(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(records, tmp_path / "s")) == 0
    out = capsys.readouterr()
    assert "(replayed records)" in out.err
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert best["confirmed"]["rounds"] == 2
    assert best["slot"]["cpus"] == 1
    rows = TrialStore(tmp_path / "s").rows()
    assert len([r for r in rows if not r["confirms"]]) == 10
    assert all(r["instance"]["backend"] == "tabulated" for r in rows)


def test_top_k_knobs_restrict_the_search(records: Path, tmp_path: Path) -> None:
    ranking = KnobRanking("postgres", "fanova", 100, {"shared_buffers": 0.7, "jit": 0.2, "work_mem": 0.1})
    path = ranking.save(tmp_path / "ranking.json")
    assert main(_args(records, tmp_path / "s", "--knobs", f"top:2:{path}")) == 0
    rows = TrialStore(tmp_path / "s").rows()
    optimized = [r for r in rows if r["optimizer"] == "tpe" and not r["baseline"] and not r["confirms"]]
    assert optimized and all(set(r["config"]) == {"shared_buffers", "jit"} for r in optimized)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ([], "--backend tabulated needs --records DIR"),
        (["--records", "/nonexistent"], "/nonexistent holds no trial records"),
        (["--workload", "tpcds"], "no trials of postgres tpcds-sf0.1"),
        (["--engine", "mariadb"], "no trials of mariadb"),
    ],
)
def test_bad_tabulated_input_is_one_line(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], fragment: str
) -> None:
    args = ["--backend", "tabulated", "--results", str(tmp_path / "x"), *extra]
    if extra and extra[0] != "--records":
        args += ["--records", str(records)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and "\n" not in err
