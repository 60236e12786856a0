"""bench/bdb_noise.py's summary on planted runs (made-up numbers, no database): spreads and the ratio's spread."""

from __future__ import annotations

import math

import pytest

from tests.bench import load_bench


def _bench() -> object:
    return load_bench("bdb_noise")


def _run(rnd: int, switch_ms: float, combo: str, tps: float, speed: float = 1.0) -> dict:
    return {"workload": "random:1", "threads": 4, "round": rnd, "switch_ms": switch_ms, "combo": combo,
            "tps": tps, "loop_rate_before": 1e7 * speed, "steady": True, "duration_s": 10, "misses": 2.0, "waits": 0.1, "page_gets": 20.0}  # fmt: skip


def test_spreads_and_the_ratio_per_switch_interval() -> None:
    bench = _bench()
    # 5 ms: both combinations swing together by a factor e^0.2 (the ratio stays 1.5); 50 ms: steady but one
    # round's ratio moves.
    runs = [_run(r, 5, "a", 1000 * math.exp(0.2 * (-1) ** r), math.exp(0.1 * (-1) ** r)) for r in range(4)]
    runs += [_run(r, 5, "b", 1500 * math.exp(0.2 * (-1) ** r), math.exp(0.1 * (-1) ** r)) for r in range(4)]
    runs += [_run(r, 50, "a", 1000) for r in range(4)]
    runs += [_run(r, 50, "b", 1200 if r == 0 else 1000) for r in range(4)]
    rows = {row["switch_ms"]: row for row in bench.summarise(runs, ["a", "b"])}
    assert rows[5]["combos"]["a"]["sd_ln_tps"] == pytest.approx(0.2 * math.sqrt(4 / 3))
    assert rows[5]["combos"]["a"]["tps_geomean"] == pytest.approx(1000)
    assert rows[5]["ln_ratio"]["mean"] == pytest.approx(math.log(1.5)) and rows[5]["ln_ratio"]["sd"] == 0
    assert rows[5]["combos"]["b"]["sd_ln_misses_per_txn"] == pytest.approx(0, abs=1e-9)
    assert rows[50]["combos"]["a"]["sd_ln_tps"] == 0
    assert rows[50]["ln_ratio"]["sd"] == pytest.approx(math.log(1.2) / 2)
    assert rows[50]["ln_ratio"]["of"] == "b / a"
    # at 5 ms the planted CPU speed moves with the throughput; at 50 ms the speed is constant: no correlation
    assert rows[5]["tps_vs_cpu_correlation"] == pytest.approx(1.0)
    assert rows[50]["tps_vs_cpu_correlation"] is None
    assert rows[5]["tps_vs_native_correlation"] is None  # no sysbench rate planted
    assert rows[5]["sd_ln_native_rate_before"] is None
    assert rows[5]["sd_ln_loop_rate_before"] == pytest.approx(0.1 * math.sqrt(8 / 7))


def test_a_combination_whose_runs_all_failed_is_reported_not_fatal() -> None:
    bench = _bench()
    rows = bench.summarise([_run(r, 5, "a", 1000 + r) for r in range(3)], ["a", "b"])
    assert rows[0]["combos"]["b"] == {"runs": 0} and rows[0]["combos"]["a"]["runs"] == 3
    assert rows[0]["ln_ratio"]["rounds"] == 0 and rows[0]["ln_ratio"]["sd"] is None


def test_bad_input_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench()
    for argv, fragment in ((["--combos", "default", "default"], "two different combinations"),
                           (["--workloads", "random:x"], "the seed must be an integer"),
                           (["--reps", "1"], "at least 2 rounds")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            bench.main(argv)
        assert exit_info.value.code == 2 and fragment in capsys.readouterr().err.splitlines()[-1]
