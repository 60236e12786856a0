"""Serving benchmark: open-loop load on the knobray service, beside the models in process and a plain Ray Serve
deployment of the same models (the reference), in one run on this machine.

Open loop: request ``i`` of a run at rate ``r`` is sent at ``t0 + i / r`` whatever the replies; its latency runs
from that scheduled time to the reply, so time a request spends waiting to be sent (a client or server that
falls behind) is counted, never hidden. For each endpoint and rate: p50, p99 and max over answered requests
(200), the same with rejections (429/503), errors (other statuses, timeouts, connection failures), and the
achieved rate. Configurations: knobray with batching, knobray without, and the reference (one FastAPI replica,
Serve's defaults, no batching, no admission control). Bodies cycle through 32 E2ETune TPC-H workloads (the
service caches parsed workloads, so after the first pass parses hit its cache; the reference parses each).

    .venv/bin/python bench/serve.py                            # results: bench/results/serve.json (~35 min)
    .venv/bin/python bench/serve.py --duration 5 --rates 50,200 --out /tmp/s.json     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from serve._process import ServiceProcess  # noqa: E402

E2ETUNE = ROOT.parent / "shared" / "data" / "e2etune" / "olap_workloads"
PLANS = ROOT.parent / "shared" / "data" / "lakehelm" / "plans"
SLOT = {"cpus": 2, "memory_gb": 8.0}
CONFIGS = [
    {"shared_buffers": "2GB", "work_mem": "64MB"},
    {"effective_cache_size": "6GB", "random_page_cost": 1.1},
    {"max_parallel_workers_per_gather": 2, "jit": "off"},
    {"work_mem": "256MB", "maintenance_work_mem": "512MB"},
]
ENDPOINTS = ("predict", "recommend", "select")


def workloads(n: int = 32) -> list[list[str]]:
    files = sorted(glob.glob(str(E2ETUNE / "tpch_*.wg")), key=lambda p: int(Path(p).stem.split("_")[1]))[:n]
    return [[line for line in Path(f).read_text().splitlines() if line.strip()] for f in files]


def bodies(endpoint: str) -> list[dict[str, Any]]:
    """The request bodies a run cycles through."""
    if endpoint == "select":
        plans = [Path(p).read_text() for p in sorted(glob.glob(str(PLANS / "tpcds_*")))[:48]]
        return [{"plans": plans[i : i + 3]} for i in range(0, 48, 3)]
    base = [{"engine": "postgres", "workload": w, "slot": SLOT} for w in workloads()]
    if endpoint == "predict":
        return [{**b, "configs": CONFIGS} for b in base]
    return [{**b, "candidates": 8, "top": 3} for b in base]


async def open_loop(
    url: str, endpoint: str, rate: float, duration: float, timeout: float = 30
) -> dict[str, Any]:
    """One run at ``rate`` requests/s for ``duration`` s."""
    import aiohttp

    payloads = [json.dumps(b).encode() for b in bodies(endpoint)]
    n = int(rate * duration)
    results: list[tuple[int, float]] = []
    lags: list[float] = []  # how late each request left the client: the client's own share of the latency
    connector = aiohttp.TCPConnector(limit=0)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
    ) as session:

        async def one(i: int, scheduled: float) -> None:
            lags.append(time.perf_counter() - scheduled)
            try:
                async with session.post(
                    f"{url}/v1/{endpoint}", data=payloads[i % len(payloads)], headers=headers
                ) as r:
                    await r.read()
                    status = r.status
            except (TimeoutError, aiohttp.ClientError):
                status = -1
            results.append((status, time.perf_counter() - scheduled))

        loop_start = time.perf_counter() + 0.05
        tasks = []
        for i in range(n):
            scheduled = loop_start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - loop_start
    summary = summarise(results, rate, n, wall)
    summary["send_lag_p99_ms"] = _ms(lags, 0.99)
    return summary


def _ms(values: list[float], q: float) -> float | None:
    return round(1000 * float(np.quantile(values, q)), 1) if values else None


def summarise(results: list[tuple[int, float]], rate: float, n: int, wall: float) -> dict[str, Any]:
    ok = [t for s, t in results if s == 200]
    rejected = [t for s, t in results if s in (429, 503)]
    answered = ok + rejected
    return {
        "rate": rate, "sent": n, "ok": len(ok), "rejected": len(rejected),
        "errors": sum(1 for s, _ in results if s not in (200, 429, 503)),
        "error_statuses": sorted({s for s, _ in results if s not in (200, 429, 503)}),
        "achieved_ok_rate": round(len(ok) / wall, 1),
        "p50_ms": _ms(ok, 0.5), "p99_ms": _ms(ok, 0.99), "max_ms": _ms(ok, 1.0),
        "p99_all_answered_ms": _ms(answered, 0.99), "rejection_p50_ms": _ms(rejected, 0.5),
    }  # fmt: skip


def saturation(runs: list[dict[str, Any]]) -> float | None:
    """The highest rate answered in full: no rejection, no error, achieved >= 95% of offered, p99 < 1 s."""
    good = [
        r["rate"] for r in runs
        if not r["rejected"] and not r["errors"] and r["achieved_ok_rate"] >= 0.95 * r["rate"]
        and (r["p99_ms"] or 0) < 1000
    ]  # fmt: skip
    return max(good) if good else None


def in_process(samples: int = 200) -> dict[str, Any]:
    """Each model's own latency, called in this process with one thread (what a replica does)."""
    import torch

    from raytune.knobs import load_catalog
    from raytune.slots import SlotShape
    from serve._inputs import workload_input
    from trainables.dann import CostModel
    from trainables.moe import MoESelector
    from trainables.recommender import Recommender

    torch.set_num_threads(1)
    shape = SlotShape(SLOT["cpus"], int(SLOT["memory_gb"] * 1024**3))
    ws = [workload_input("postgres", w, shape) for w in workloads()]
    catalog = load_catalog("postgres")
    configs = [{}] + [catalog.validate(c) for c in CONFIGS]
    cost, rec, moe = CostModel.load(), Recommender.load(), MoESelector.load()
    select_bodies = bodies("select")
    calls = {
        "predict": lambda i: cost.predict(configs, ws[i % len(ws)]),
        "recommend": lambda i: rec.recommend(ws[i % len(ws)], cost_model=cost, candidates=8, top=3),
        "select": lambda i: moe.select(select_bodies[i % len(select_bodies)]["plans"]),
        "parse_workload": lambda i: workload_input("postgres", workloads()[i % 32], shape),
    }
    out = {}
    for name, call in calls.items():
        for i in range(len(ws)):
            call(i)  # warm (text encodings and plan parses cached, as in a replica)
        times = []
        for i in range(samples):
            t0 = time.perf_counter()
            call(i)
            times.append(time.perf_counter() - t0)
        out[name] = {
            "p50_ms": _ms(times, 0.5),
            "p99_ms": _ms(times, 0.99),
            "mean_ms": round(1000 * statistics.mean(times), 2),
        }
    return out


def serve_reference(port: int) -> int:
    """The reference: a plain Ray Serve app of the same models (defaults: one replica, no batching, no admission
    control), printing the same banner as ``python -m serve``."""
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")  # the same Serve mode as python -m serve
    import ray
    import torch
    from fastapi import Body, FastAPI
    from ray import serve

    t0 = time.perf_counter()
    app = FastAPI()

    @serve.deployment
    @serve.ingress(app)
    class Plain:
        def __init__(self) -> None:
            from trainables.dann import CostModel
            from trainables.moe import MoESelector
            from trainables.recommender import Recommender

            torch.set_num_threads(1)
            self.cost, self.rec, self.moe = CostModel.load(), Recommender.load(), MoESelector.load()

        def _workload(self, body: dict[str, Any]) -> Any:
            from raytune.slots import SlotShape
            from serve._inputs import workload_input

            slot = body["slot"]
            return workload_input(
                body["engine"], body["workload"], SlotShape(slot["cpus"], int(slot["memory_gb"] * 1024**3))
            )

        @app.post("/v1/predict")
        def predict(self, body: dict = Body(...)) -> dict:  # noqa: B008 - FastAPI's idiom
            from serve._inputs import check_config

            configs = [check_config(body["engine"], c, "configs") for c in body["configs"]]
            return {"latencies": self.cost.predict([{}, *configs], self._workload(body)).tolist()}

        @app.post("/v1/recommend")
        def recommend(self, body: dict = Body(...)) -> dict:  # noqa: B008
            ranked = self.rec.recommend(self._workload(body), cost_model=self.cost, candidates=8, top=3)
            return {"configs": [r.config for r in ranked]}

        @app.post("/v1/select")
        def select(self, body: dict = Body(...)) -> dict:  # noqa: B008
            return {"engine": self.moe.select(body["plans"]).engine}

    ray.init(address="local", include_dashboard=False, configure_logging=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Plain.bind(), name="reference", route_prefix="/")
    print(f"knobray serve: ready at http://127.0.0.1:{port} in {time.perf_counter() - t0:.1f} s", flush=True)
    import threading

    threading.Event().wait()
    return 0


def load_runs(
    service: ServiceProcess, endpoints: list[str], rates: list[float], duration: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for endpoint in endpoints:
        runs = []
        for rate in rates:
            asyncio.run(open_loop(service.url, endpoint, min(rate, 20), 2))  # settle between runs
            run = asyncio.run(open_loop(service.url, endpoint, rate, duration))
            print(f"  {endpoint:9s} {rate:5.0f}/s  ok {run['ok']:5d}  rejected {run['rejected']:5d}  errors "
                  f"{run['errors']:3d}  p50 {run['p50_ms']} ms  p99 {run['p99_ms']} ms  max {run['max_ms']} ms", flush=True)  # fmt: skip
            runs.append(run)
        sat = saturation(runs)
        if sat is not None and 2 * sat not in rates:
            run = asyncio.run(open_loop(service.url, endpoint, 2 * sat, duration))
            run["overload_of_saturation"] = sat
            print(f"  {endpoint:9s} {2 * sat:5.0f}/s (2x saturation)  ok {run['ok']}  rejected {run['rejected']}  "
                  f"p99 {run['p99_ms']} ms", flush=True)  # fmt: skip
            runs.append(run)
        out[endpoint] = {"saturation_rate": sat, "runs": runs}
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The results as the tables of docs/benchmarks.md."""
    lines = [
        "| endpoint | rate /s | "
        + " | ".join(f"{c}: p50 / p99 / max ms, ok, rejected" for c in doc["configs"])
        + " |"
    ]
    lines.append("| --- | --- |" + " --- |" * len(doc["configs"]))
    for endpoint in doc["configs"][next(iter(doc["configs"]))]["endpoints"]:
        rates = sorted({r["rate"] for c in doc["configs"].values() for r in c["endpoints"][endpoint]["runs"]})
        for rate in rates:
            cells = []
            for c in doc["configs"].values():
                run = next((r for r in c["endpoints"][endpoint]["runs"] if r["rate"] == rate), None)
                if run is None:
                    cells.append("")
                    continue
                extra = f", {run['errors']} errors" if run["errors"] else ""
                cells.append(
                    f"{run['p50_ms']} / {run['p99_ms']} / {run['max_ms']}, {run['ok']}, {run['rejected']}{extra}"
                )
            lines.append(f"| {endpoint} | {rate:g} | " + " | ".join(cells) + " |")
    sat = ", ".join(
        f"{name} {endpoint} {c['endpoints'][endpoint]['saturation_rate']}"
        for name, c in doc["configs"].items() for endpoint in c["endpoints"]
    )  # fmt: skip
    return "\n".join(lines) + f"\n\nSaturation (highest rate answered in full, p99 < 1 s): {sat}\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="50,100,200,300,400")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--endpoints", default=",".join(ENDPOINTS))
    p.add_argument("--configs", default="batched,unbatched,reference")
    p.add_argument("--out", type=Path, default=HERE / "results" / "serve.json")
    p.add_argument("--markdown", type=Path, help="print the tables of a results file and exit")
    p.add_argument("--serve-reference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_reference:
        return serve_reference(args.port)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    rates = [float(r) for r in args.rates.split(",")]
    endpoints = args.endpoints.split(",")
    doc: dict[str, Any] = {
        "command": " ".join(["python", "bench/serve.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "duration_s": args.duration, "rates": rates, "date": time.strftime("%Y-%m-%d %H:%M"),
    }  # fmt: skip
    print("in process (one thread):", flush=True)
    doc["in_process"] = in_process()
    for name, r in doc["in_process"].items():
        print(f"  {name:15s} p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms", flush=True)
    launches = {
        "batched": {"args": ()},
        "unbatched": {"args": ("--no-batching",)},
        "reference": {
            "args": (),
            "command": [sys.executable, str(Path(__file__).resolve()), "--serve-reference"],
        },
    }
    doc["configs"] = {}
    for name in args.configs.split(","):
        service = ServiceProcess(*launches[name]["args"], command=launches[name].get("command"))
        try:
            print(f"{name}: {service.banner}", flush=True)
            doc["configs"][name] = {"start_to_ready_s": service.start_seconds, "launch_to_ready_s": round(service.wall_seconds, 1),
                                    "endpoints": load_runs(service, endpoints, rates, args.duration)}  # fmt: skip
        finally:
            service.stop()
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
