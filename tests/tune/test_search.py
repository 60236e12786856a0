"""Searches on real Ray Tune over real PostgreSQL and MariaDB instances."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from raytune.search._cli import main as search_main
from raytune.storage import TrialStore
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search
from tests.overlap import max_overlap

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_ray")]

FAST = ["--sf", "0.01", "--repeats", "1", "--timeout", "20"]


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_four_trial_search_writes_rows_and_a_best_config(engine: str, tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    code = search_main(
        [
            "--engine",
            engine,
            *FAST,
            "--trials",
            "4",
            "--instances",
            "2",
            "--optimizer",
            "tpe",
            "--confirm",
            "1",
            "--confirm-rounds",
            "2",
            "--results",
            str(results),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    every = TrialStore(results).rows()
    confirm = [r for r in every if r["confirms"]]
    rows = [r for r in every if not r["confirms"]]
    # default, rules and the best searched config, 2 rounds each, one at a time on one slot
    assert sorted((r["confirms"] != "default", r["round"]) for r in confirm)[:2] == [(False, 0), (False, 1)]
    assert (
        len(confirm) == 6
        and max_overlap(confirm) == 1
        and len({r["instance"]["index"] for r in confirm}) == 1
    )
    assert all(r["slot"]["cpus"] == 1 and r["hardware"]["cores"] == 1 for r in every)  # 2 slots on 2 cores
    assert len(rows) == 4 and len({r["trial_id"] for r in rows}) == 4
    assert {r["baseline"] for r in rows} == {"default", "rules", None}
    searched = [r for r in rows if r["baseline"] is None]  # the other optimizers: test_each_optimizer_runs
    assert {r["optimizer"] for r in searched} == {"tpe"}
    assert len({json.dumps(r["config"], sort_keys=True) for r in searched}) == 2
    assert all(r["status"] == "SUCCEEDED" for r in rows), [r["error"] for r in rows]
    assert max_overlap(rows) <= 2
    best = json.loads((results / "best.json").read_text())
    assert (
        best["engine"] == engine
        and isinstance(best["config"], dict)
        and best["trial_id"] in {r["trial_id"] for r in rows}
    )
    confirmed = best["confirmed"]
    assert confirmed["rounds"] == 2 and len(confirmed["ratio_to_default"]["values"]) == 2
    assert isinstance(confirmed["significant"], bool) and best["slot"]["cpus"] == 1
    conf = (results / "best.conf").read_text()
    assert conf.startswith("# my.cnf" if engine == "mariadb" else "# postgresql.conf")
    assert "# tuned for 1 CPU" in conf and ("# confirmed:" in conf or "no significant gain" in conf)
    assert all(f"{knob}" in conf for knob in best["config"])
    assert (results / "convergence.png").stat().st_size > 1000
    assert "default" in out and "rules" in out and "best" in out and "trials.parquet" in out
    assert "confirmed (2 rounds" in out and "verdict:" in out


@pytest.mark.parametrize("optimizer", ["hebo", "smac"])  # tpe: the four-trial search; random: the others
def test_each_optimizer_runs(optimizer: str, tmp_path: Path) -> None:
    spec = SearchSpec(
        results_dir=tmp_path / optimizer,
        workload=WorkloadSpec("tpch", 0.01),
        optimizer=optimizer,
        trials=4,
        instances=1,  # one at a time: the second suggestion follows the first one's result
        settings=MeasureSettings(repeats=1, timeout_s=20, plans=False),
        confirm=0,
    )
    rows = run_search(spec).rows()
    searched = [r for r in rows if r["baseline"] is None]
    assert len(rows) == 4 and len(searched) == 2
    assert all(r["optimizer"] == optimizer for r in searched)
    assert len({json.dumps(r["config"], sort_keys=True) for r in searched}) == 2  # it proposes, not repeats
    assert all(r["status"] == "SUCCEEDED" for r in rows), [r["error"] for r in rows]


def test_one_instance_runs_one_trial_at_a_time_on_a_ray_with_more_slots(tmp_path: Path) -> None:
    # The module's Ray has two db_slots; baselines and a list of configs must still honour --instances 1.
    settings = MeasureSettings(repeats=1, timeout_s=20, plans=False)
    configs = [{"work_mem": "4MB"}, {"work_mem": "64MB", "shared_buffers": "256MB"}, {"jit": "off"}]
    listed = run_search(
        SearchSpec(
            results_dir=tmp_path / "cfg",
            optimizer="configs",
            configs=configs,
            trials=3,
            instances=1,
            settings=settings,
            confirm=0,
        )
    ).rows()
    searched = run_search(
        SearchSpec(
            results_dir=tmp_path / "rnd",
            optimizer="random",
            trials=3,
            instances=1,
            settings=settings,
            confirm=0,
        )
    ).rows()
    for rows in (listed, searched):
        assert len(rows) == 3 and all(r["status"] == "SUCCEEDED" for r in rows), [r["error"] for r in rows]
        assert max_overlap(rows) == 1
    as_keys = sorted(json.dumps(c, sort_keys=True) for c in configs)  # the configs optimizer runs the list
    assert sorted(json.dumps(r["config"], sort_keys=True) for r in listed) == as_keys


def _postmaster_pids(home: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            cmd
            and cmd[0].endswith(b"/postgres")
            and b"-D" in cmd
            and str(home / "instances").encode() in cmd[cmd.index(b"-D") + 1]
        ):
            pids.append(int(entry.name))
    return pids


def _busy_postmaster(home: Path) -> int | None:
    """A postmaster of a search instance with a backend in the middle of a query (process title ``... SELECT``)."""
    postmasters = set(_postmaster_pids(home))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if title.startswith(b"postgres: knobray tpch") and b"SELECT" in title and ppid in postmasters:
            return ppid
    return None


def test_server_killed_mid_trial_fails_that_trial_and_the_search_finishes(
    tmp_path: Path, knobray_home: Path
) -> None:
    results = tmp_path / "kill"
    store = TrialStore(results)
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            if len(store) >= 2:  # baselines done; kill a server while one of its backends runs a query
                busy = _busy_postmaster(knobray_home)
                if busy:
                    os.kill(busy, signal.SIGKILL)
                    killed.append(busy)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    spec = SearchSpec(
        results_dir=results,
        optimizer="random",
        trials=5,
        instances=2,
        settings=MeasureSettings(repeats=10, timeout_s=20, plans=False),
        confirm=0,
    )
    rows = run_search(spec).rows()
    thread.join(timeout=5)
    assert killed, "no server was found to kill"
    assert len(rows) == 5
    failed = [r for r in rows if r["status"] == "CRASHED"]
    assert len(failed) >= 1, [(r["status"], r["error"], r["instance"]) for r in rows]
    assert len(failed) >= 1 and all(r["error"] for r in failed)
    assert rows[-1]["status"] == "SUCCEEDED" or any(r["status"] == "SUCCEEDED" for r in rows[-2:])
