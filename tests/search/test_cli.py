"""``python -m raytune.search`` as a user runs it: bad input, interrupt and resume (real Ray, real PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raytune.records import TrialRecord
from raytune.storage import TrialStore

ROOT = Path(__file__).resolve().parents[2]


def search(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raytune.search", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ},
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--engine", "oracle"], "unknown engine 'oracle'"),
        (["--workload", "tpcx"], "unknown workload 'tpcx'"),
        (
            ["--optimizer", "genetic"],
            "unknown optimizer 'genetic'; use one of: hebo, smac, tpe, random, configs",
        ),
        (["--knobs", "/nonexistent/knobs.json"], "knob file /nonexistent/knobs.json does not exist"),
        (["--objective", "throughput"], "objective 'throughput' does not fit workload tpch"),
        (["--optimizer", "configs"], "needs --configs FILE"),
        (["--resume", "--results", "/nonexistent/run"], "nothing to resume"),
        (["--address", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], fragment: str) -> None:
    proc = search(*args, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr


def test_bad_knob_file_contents(tmp_path: Path) -> None:
    knobs = tmp_path / "knobs.json"
    knobs.write_text('{"knobs": {"shared_bufers": {}}}')
    proc = search("--knobs", str(knobs), timeout=120)
    assert proc.returncode == 2 and "unknown knob 'shared_bufers'" in proc.stderr


def test_new_search_into_an_earlier_searchs_results_is_refused(tmp_path: Path) -> None:
    store = TrialStore(tmp_path)
    store.append(TrialRecord(trial_id="t1", engine="postgres", objective=2.0), score=2.0, optimizer="tpe")
    proc = search("--results", str(tmp_path), timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "already holds 1 trial records" in lines[0] and "--resume" in lines[0]
    assert [r["trial_id"] for r in store.rows()] == ["t1"]


def _session_leftovers(driver_pid: int, home: Path) -> list[str]:
    """Processes of a dead driver's search: its Ray session's and database servers under the knobray home."""
    from raytune.tune._reaper import session_processes

    left = [f"ray pid {pid}" for pid in session_processes(driver_pid)]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if str(home / "instances").encode() in cmd:
                left.append(cmd.replace(b"\0", b" ").decode(errors="replace")[:120])
    return left


def _start_search(args: list[str], *, quiet: bool = False) -> subprocess.Popen[str]:
    """The search CLI in the background; ``quiet``: output discarded (no pipe a killed driver's children hold)."""
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "raytune.search", *args], cwd=ROOT, stdout=out, stderr=out,
                            text=True)  # fmt: skip


def _wait_for_rows(store: TrialStore, proc: subprocess.Popen[str], n: int) -> None:
    deadline = time.monotonic() + 300
    while len(store) < n and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, f"the search ended before {n} trials were recorded"


@pytest.mark.slow
def test_interrupted_then_sigkilled_search_leaves_nothing_behind_and_resumes_with_every_trial_once(
    tmp_path: Path, knobray_home: Path
) -> None:
    results = tmp_path / "run"
    args = ["--sf", "0.01", "--repeats", "1", "--timeout", "20", "--trials", "7", "--optimizer", "random"]
    args += ["--confirm", "1", "--confirm-rounds", "1", "--results", str(results)]
    store = TrialStore(results)
    # Ctrl-C: exit 130, the trials so far kept, and a hint to resume.
    proc = _start_search(args)
    _wait_for_rows(store, proc, 3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    interrupted = {r["trial_id"] for r in store.rows()}
    assert proc.returncode == 130, err
    assert "--resume" in err and 3 <= len(interrupted) < 7
    # The resumed driver killed outright: Ray's processes and the database servers go with it.
    proc = _start_search([*args, "--resume"], quiet=True)
    _wait_for_rows(store, proc, len(interrupted) + 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = {r["trial_id"] for r in store.rows()}
    deadline = time.monotonic() + 30
    while _session_leftovers(proc.pid, knobray_home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _session_leftovers(proc.pid, knobray_home) == []
    # Resumed to the end: every trial once, the earlier ones kept, the baselines measured once.
    resumed = search(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    every = store.rows()
    rows = [r for r in every if not r["confirms"]]
    ids = [r["trial_id"] for r in rows]
    assert len(rows) == 7 and len(set(ids)) == 7, ids
    assert sorted(r["confirms"] != "default" for r in every if r["confirms"]) == [False, True, True]
    assert interrupted <= killed <= set(ids)
    assert (
        sum(r["baseline"] == "default" for r in rows) == 1
        and sum(r["baseline"] == "rules" for r in rows) == 1
    )
    assert "best" in resumed.stdout and "verdict:" in resumed.stdout
