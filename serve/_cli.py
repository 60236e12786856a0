"""``python -m serve``: knobray's service on this machine (local Ray, loopback by default) until Ctrl-C.

Prints one line when the service is up: ready, or up but not ready with the problems ``/healthz`` reports
(a model that fails to load leaves the service up). Exit 0 on Ctrl-C or SIGTERM, 2 with one line for bad
options.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from raytune.errors import KnobrayError
from serve._settings import ServeSettings, parse_model_options, read_token


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m serve", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (8000)")
    p.add_argument("--token-file", type=Path, help="require Authorization: Bearer <the file's token>")
    p.add_argument(
        "--model", action="append", default=[], metavar="KIND[:ID]=DIR",
        help="a model directory: KIND recommender, cost_model or moe; without :ID it replaces the default",
    )  # fmt: skip
    p.add_argument("--no-batching", action="store_true", help="one model call per request")
    p.add_argument("--max-batch-size", type=int, default=ServeSettings.max_batch_size)
    p.add_argument("--max-body-bytes", type=int, default=ServeSettings.max_body_bytes)
    p.add_argument(
        "--max-inflight", default="",
        help="requests answered at once per endpoint, e.g. predict=32,recommend=8,select=8 (more get 429)",
    )  # fmt: skip
    p.add_argument("--dashboard", action="store_true", help="start the Ray dashboard (its Serve view)")
    return p


def settings_of(args: argparse.Namespace) -> ServeSettings:
    """Settings from the options.

    Raises:
        KnobrayError: A bad option value.
    """
    if not 0 < args.port < 65536:
        raise KnobrayError(f"--port {args.port} is not a TCP port; use 1-65535")
    if args.max_batch_size < 1 or args.max_body_bytes < 1024:
        raise KnobrayError("--max-batch-size must be at least 1 and --max-body-bytes at least 1024")
    inflight = dict(ServeSettings().max_inflight)
    for item in filter(None, args.max_inflight.split(",")):
        name, _, value = item.partition("=")
        if name not in inflight or not value.isdigit() or int(value) < 1:
            raise KnobrayError(
                f"bad --max-inflight {item!r}; use ENDPOINT=N with ENDPOINT one of {', '.join(inflight)}"
            )
        inflight[name] = int(value)
    return ServeSettings(
        host=args.host, port=args.port, token=read_token(args.token_file) if args.token_file else None,
        max_body_bytes=args.max_body_bytes, batching=not args.no_batching, max_batch_size=args.max_batch_size,
        max_inflight=inflight, models=parse_model_options(args.model),
    )  # fmt: skip


def start(settings: ServeSettings, *, dashboard: bool = False) -> None:
    """Starts local Ray (if none runs in this process), Serve's HTTP proxy and the application."""
    # Serve's throughput-optimised mode (fewer threads and copies per request; measured faster here) is read at
    # import: ``python -m serve`` sets it before importing anything; the replicas inherit it from the Ray
    # started here.
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
    import ray
    from ray import serve

    from serve._app import build_app

    if not ray.is_initialized():
        ray.init(
            address="local", num_cpus=os.cpu_count() or 1, include_dashboard=dashboard,
            configure_logging=False, log_to_driver=False,
        )  # fmt: skip
    serve.start(http_options={"host": settings.host, "port": settings.port})
    serve.run(build_app(settings), name="knobray", route_prefix="/", blocking=False)


def health(url: str) -> tuple[int, dict]:
    """``/healthz``'s status and body."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, OSError) as exc:
        return 0, {"problems": [f"/healthz did not answer ({getattr(exc, 'reason', exc)})"]}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_of(args)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        start(settings, dashboard=args.dashboard)
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        url = f"http://{host}:{settings.port}"
        status, body = health(url)
        seconds = time.perf_counter() - t0
        if status == 200:
            print(f"knobray serve: ready at {url} in {seconds:.1f} s (OpenAPI: {url}/docs)", flush=True)
        else:
            problems = "; ".join(body.get("problems", [])) or f"/healthz answered {status}"
            print(f"knobray serve: up at {url} in {seconds:.1f} s but NOT READY: {problems}", flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _shutdown()
    return 0


def _shutdown() -> None:
    import ray
    from ray import serve

    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()
