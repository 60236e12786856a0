"""Where the run-to-run noise of a Berkeley DB db_perf run comes from: the same runs repeated back to back.

For each workload, ``--reps`` rounds; in each round every combination of ``--combos`` runs once under every
Python thread switch interval of ``--switch-ms`` (``sys.setswitchinterval``: how long a transaction thread may
hold the interpreter lock before another may take it; Python's default is 5 ms), in the same order every
round, so that a slow drift of the machine falls on every setting alike. Per (workload, switch interval, combination):
the spread of ln(throughput) over the rounds, and the spread of the database's own work per transaction
(memory-pool misses, lock waits), which a noisy machine or a noisy database would move too; per switch
interval the spread of ln(throughput ratio) between the two combinations of a round, the quantity an
evaluation of picks decides on. A pure-Python loop, timed twelve times first and once before every run, says
how steady the interpreter's own speed is, and sysbench's CPU test before every run the machine's speed for
compiled code; /proc/stat, how much CPU time the host took (steal). A run that
fails is reported and left out.

Runs are in this process (``TrialRunner``, one at a time, both cores), like one trial of ``bench/influence.py``
(which runs the same runner inside a Ray worker, at the default 5 ms).

    .venv/bin/python bench/bdb_noise.py                    # results: bench/results/bdb-noise.json (32 runs, ~11 min)
    .venv/bin/python bench/bdb_noise.py --reps 2 --workloads random:1000001 --sf 0.2 --out /tmp/n.json  # quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from raytune.errors import WorkloadError  # noqa: E402
from raytune.trial import MeasureSettings, TrialRunner  # noqa: E402
from raytune.workloads import DbPerfWorkload, parse_mix  # noqa: E402
from raytune.workloads._dbperf import CLIENTS  # noqa: E402

COMBOS = {
    "default": {"page_size": "8192", "min_keys": 2, "db_rmw": "off", "deadlock_policy": "random"},
    "2k-minlocks": {"page_size": "2048", "min_keys": 2, "db_rmw": "off", "deadlock_policy": "minlocks"},
}
WORK_PER_TXN = ("misses", "waits", "page_gets")


def loop_rate(seconds: float) -> float:
    """Iterations per second of a pure-Python loop: how fast this CPU runs this interpreter right now."""
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for _ in range(10_000):
            n += 1
    return n / (time.perf_counter() - start)


def cpu_steadiness(samples: int = 12, seconds: float = 1.5) -> float:
    """The SD of ln(rate) of a pure-Python loop over ``samples`` intervals: how steady the CPU itself is."""
    return statistics.stdev(math.log(loop_rate(seconds)) for _ in range(samples))


def native_rate(seconds: int = 1) -> float | None:
    """sysbench's single-thread CPU events per second over ``seconds``: the machine's speed for compiled code,
    apart from this interpreter's state (None without sysbench)."""
    try:
        out = subprocess.run(["sysbench", "cpu", "--threads=1", f"--time={seconds}", "run"],
                             capture_output=True, text=True, timeout=30 + seconds, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"events per second:\s*([0-9.]+)", out)
    return float(found.group(1)) if found else None


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) clock ticks of every CPU so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[7], sum(fields)


def sd_ln(values: list[float]) -> float:
    return statistics.stdev(math.log(v) for v in values) if len(values) > 1 else 0.0


def run_once(runner: TrialRunner, config: dict[str, Any], switch_s: float) -> dict[str, Any] | None:
    """One run with the interpreter's switch interval set to ``switch_s`` (restored after); None if it failed."""
    probe, native = loop_rate(1.0), native_rate()
    before, (steal0, total0) = sys.getswitchinterval(), cpu_ticks()
    sys.setswitchinterval(switch_s)
    try:
        record = runner.run(config)
    finally:
        sys.setswitchinterval(before)
    steal1, total1 = cpu_ticks()
    if record.status.name != "SUCCEEDED":
        print(f"run failed ({record.status.name}): {record.error}; left out", file=sys.stderr)
        return None
    per_txn = record.summary["per_txn"]
    return {"tps": record.objective, "steady": bool(record.oltp["steady"]["stable"]),
            "duration_s": record.oltp["duration_s"], "loop_rate_before": probe,
            "native_rate_before": native,
            "steal_pct": 100 * (steal1 - steal0) / max(1, total1 - total0),
            **{k: per_txn[k] for k in WORK_PER_TXN}}  # fmt: skip


def summarise(runs: list[dict[str, Any]], combos: list[str]) -> list[dict[str, Any]]:
    """Per (workload, switch interval): each combination's spread, and the spread of the combinations' ratio."""
    out = []
    for key in sorted({(r["workload"], r["switch_ms"]) for r in runs}):
        mine = [r for r in runs if (r["workload"], r["switch_ms"]) == key]
        row: dict[str, Any] = {"workload": key[0], "switch_ms": key[1], "combos": {}}
        for combo in combos:
            of = [r for r in mine if r["combo"] == combo]
            if not of:  # every run of it failed
                row["combos"][combo] = {"runs": 0}
                continue
            row["combos"][combo] = {
                "runs": len(of),
                "tps_geomean": math.exp(statistics.fmean(math.log(r["tps"]) for r in of)),
                "sd_ln_tps": sd_ln([r["tps"] for r in of]),
                "steady": sum(r["steady"] for r in of),
                **{f"sd_ln_{k}_per_txn": sd_ln([r[k] + 1e-9 for r in of]) for k in WORK_PER_TXN},
            }
        by_round = {}
        for r in mine:
            by_round.setdefault(r["round"], {})[r["combo"]] = r["tps"]
        ratios = [math.log(v[combos[1]] / v[combos[0]]) for v in by_round.values() if len(v) == len(combos)]
        row["ln_ratio"] = {"of": f"{combos[1]} / {combos[0]}", "rounds": len(ratios),
                           "mean": statistics.fmean(ratios) if ratios else None,
                           "sd": statistics.stdev(ratios) if len(ratios) > 1 else None}  # fmt: skip
        row["tps_vs_cpu_correlation"] = _cpu_correlation(mine, "loop_rate_before")
        row["tps_vs_native_correlation"] = _cpu_correlation(mine, "native_rate_before")
        for probe in ("loop_rate_before", "native_rate_before"):
            rates = [r[probe] for r in mine if r.get(probe)]
            row[f"sd_ln_{probe}"] = sd_ln(rates) if len(rates) > 1 else None
        out.append(row)
    return out


def _cpu_correlation(runs: list[dict[str, Any]], probe: str) -> float | None:
    """Pearson correlation of a run's ln(throughput), less its combination's mean, with ln(the ``probe`` rate
    measured just before it): near 1 when the machine's speed of the moment sets the throughput."""
    runs = [r for r in runs if r.get(probe)]
    if len(runs) < 3:
        return None
    mean = {
        c: statistics.fmean(math.log(r["tps"]) for r in runs if r["combo"] == c)
        for c in {r["combo"] for r in runs}
    }
    residual = [math.log(r["tps"]) - mean[r["combo"]] for r in runs]
    speed = [math.log(r[probe]) for r in runs]
    if statistics.pstdev(residual) == 0 or statistics.pstdev(speed) == 0:
        return None
    return statistics.correlation(residual, speed)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for name in args.workloads:
        workload = DbPerfWorkload(
            parse_mix(name), sf=args.sf, client=args.client, client_cpus=args.client_cpus or None
        )
        with tempfile.TemporaryDirectory(prefix="bdb-noise-", dir=args.work) as work:
            runner = TrialRunner("berkeleydb", workload, workdir=Path(work),
                                 settings=MeasureSettings(duration_s=args.duration))  # fmt: skip
            with runner:
                for rnd in range(args.reps):
                    for switch_ms in args.switch_ms:
                        for combo in args.combos:
                            run = run_once(runner, COMBOS[combo], switch_ms / 1000)
                            if run is None:
                                continue
                            runs.append({"workload": name, "threads": workload.mix.concurrency, "round": rnd,
                                         "switch_ms": switch_ms, "combo": combo, **run})  # fmt: skip
                            print(f"{name} ({workload.mix.concurrency} threads) round {rnd} switch {switch_ms:g} ms "
                                  f"{combo:12s} {run['tps']:8.1f} tps, misses/txn {run['misses']:.2f}, "
                                  f"waits/txn {run['waits']:.3f}", file=sys.stderr, flush=True)  # fmt: skip
    return runs


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", nargs="+", default=["random:1000000", "random:1000001"],
                   help="db_perf mixes (the first two test workloads of bench/influence.py: 104 and 6 threads)")  # fmt: skip
    p.add_argument("--sf", type=float, default=5.0, help="db_perf scale: 24,500 x sf items (5: 122,500)")
    p.add_argument(
        "--duration", type=int, default=20, help="longest run in seconds (a run stops at steady state)"
    )
    p.add_argument("--reps", type=int, default=4, help="rounds")
    p.add_argument(
        "--client",
        choices=CLIENTS,
        default="native",
        help="the transaction threads: native (a C process) or python (threads in this process)",
    )
    p.add_argument(
        "--client-cpus", type=int, default=1, help="CPUs the native client's threads may use (0: every CPU)"
    )
    p.add_argument("--switch-ms", type=float, nargs="+", default=[5.0, 50.0], help="switch intervals, ms")
    p.add_argument("--combos", nargs=2, choices=sorted(COMBOS), default=["default", "2k-minlocks"])
    p.add_argument("--work", type=Path, default=Path("/var/tmp"), help="where the environments are made")
    p.add_argument("--out", type=Path, default=HERE / "results" / "bdb-noise.json")
    args = p.parse_args(argv)
    if args.reps < 2 or any(s <= 0 for s in args.switch_ms):
        p.error("--reps needs at least 2 rounds and every --switch-ms must be positive")
    if args.combos[0] == args.combos[1]:
        p.error(
            f"--combos: two different combinations, e.g. --combos default 2k-minlocks (got {args.combos[0]} twice)"
        )
    if args.sf <= 0 or args.duration < 1 or not args.work.is_dir():
        p.error("--sf must be positive, --duration at least 1 s, and --work an existing directory")
    for name in args.workloads:
        try:
            parse_mix(name)
        except WorkloadError as exc:
            p.error(str(exc))
    started = time.time()
    cpu = cpu_steadiness()
    runs = measure(args)
    summary = summarise(runs, args.combos)
    result = {"command": " ".join(["python", "bench/bdb_noise.py", *sys.argv[1:]]),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "date": time.strftime("%Y-%m-%d"), "minutes": round((time.time() - started) / 60, 1),
              "sf": args.sf, "items": int(24_500 * args.sf), "duration_limit_s": args.duration,
              "cpu_sd_ln_rate": cpu, "summary": summary, "runs": runs}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"pure-Python loop: SD of ln(rate) {cpu:.3f}")
    for row in summary:
        cells = ", ".join(
            f"{c} {v['tps_geomean']:.0f} tps SD {v['sd_ln_tps']:.3f}"
            if v["runs"]
            else f"{c} no run succeeded"
            for c, v in row["combos"].items()
        )
        print(f"{row['workload']} switch {row['switch_ms']:g} ms: {cells}; ln ratio SD "
              f"{_number(row['ln_ratio']['sd'], '.3f')}; correlation with the CPU's speed "
              f"{_number(row['tps_vs_cpu_correlation'], '+.2f')} (loop), "
              f"{_number(row['tps_vs_native_correlation'], '+.2f')} (sysbench)")  # fmt: skip
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
