"""Trial overhead: time to apply a configuration (and restart when needed) vs. the time a trial measures.

Runs real TPC-H trials on PostgreSQL and MariaDB, alternating two configurations that each need a restart,
and records apply + restart seconds per trial beside the measured run time. Goals (issue 2): PostgreSQL
restart under 1 s; overhead under 5% of a TPC-H SF 0.1 trial.

    .venv/bin/python bench/trial_overhead.py [--sf 0.1] [--trials 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from raytune.hardware import detect_hardware
from raytune.records import TrialStatus
from raytune.trial import MeasureSettings, TrialRunner, ensure_home
from raytune.workloads import TpcWorkload

# Two configurations per engine that differ in a restart knob (and a reload knob).
CONFIGS = {
    "postgres": [
        {"shared_buffers": "256MB", "work_mem": "16MB"},
        {"shared_buffers": "512MB", "work_mem": "64MB"},
    ],
    "mariadb": [
        {"innodb_log_buffer_size": "32MB", "sort_buffer_size": "4MB"},
        {"innodb_log_buffer_size": "64MB", "sort_buffer_size": "8MB"},
    ],
}


def measure(engine: str, sf: float, trials: int, repeats: int) -> dict[str, object]:
    workload = TpcWorkload("tpch", sf, ensure_home() / "data")
    rows = []
    with TrialRunner(
        engine, workload, settings=MeasureSettings(repeats=repeats, timeout_s=120, plans=False)
    ) as runner:
        t0 = time.perf_counter()
        runner.prepare()
        prepare_s = time.perf_counter() - t0
        for i in range(trials):
            rec = runner.run(CONFIGS[engine][i % 2])
            if rec.status is not TrialStatus.SUCCEEDED:
                raise SystemExit(f"{engine} trial {i} failed: {rec.error}")
            t = rec.timings
            rows.append(
                {
                    "apply_s": t["apply_s"],
                    "restart_s": t["restart_s"],
                    "run_s": t["run_s"],
                    "overhead_pct": 100 * (t["apply_s"] + t["restart_s"]) / t["run_s"],
                }
            )
            print(
                f"  {engine} trial {i}: apply {t['apply_s']:.3f}s restart {t['restart_s']:.3f}s "
                f"run {t['run_s']:.2f}s -> overhead {rows[-1]['overhead_pct']:.2f}%",
                file=sys.stderr,
            )
        version = rec.engine_version

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {
        "engine": engine,
        "version": version,
        "golden_prepare_s": prepare_s,
        "trials": rows,
        "median_apply_s": med("apply_s"),
        "median_restart_s": med("restart_s"),
        "max_restart_s": max(r["restart_s"] for r in rows),
        "median_run_s": med("run_s"),
        "median_overhead_pct": med("overhead_pct"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=0.1)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="postgres,mariadb")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "trial_overhead.json")
    args = parser.parse_args()
    results = [measure(e, args.sf, args.trials, args.repeats) for e in args.engines.split(",")]
    doc = {
        "command": " ".join(["python", "bench/trial_overhead.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {**detect_hardware().to_dict(), "platform": platform.platform()},
        "workload": f"tpch sf {args.sf:g}, 22 queries, 1 warm-up + {args.repeats} measured passes",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(
        f"{'engine':<10}{'apply (s)':>11}{'restart (s)':>13}{'max restart':>13}{'run (s)':>10}{'overhead':>10}"
    )
    for r in results:
        print(
            f"{r['engine']:<10}{r['median_apply_s']:>11.3f}{r['median_restart_s']:>13.3f}{r['max_restart_s']:>13.3f}"
            f"{r['median_run_s']:>10.2f}{r['median_overhead_pct']:>9.2f}%"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
