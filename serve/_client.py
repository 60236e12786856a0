"""A small client of the service (standard library only), for ``raytune.search --warm-start URL``."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from raytune.errors import KnobrayError

TOKEN_ENV = "KNOBRAY_SERVE_TOKEN"


def check_reachable(url: str, timeout_s: float = 3.0) -> None:
    """Fails fast, before anything is started, when nothing listens at ``url``.

    Raises:
        KnobrayError: A malformed URL, or no service listening there.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KnobrayError(f"--warm-start {url!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8000")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return
    except OSError as exc:
        raise KnobrayError(
            f"cannot reach the knobray service at {url} ({exc.strerror or exc}); start it with python -m serve"
        ) from None


def recommend_remote(
    url: str,
    engine: str,
    queries: Sequence[str],
    *,
    cpus: int,
    memory_bytes: int,
    top: int = 3,
    candidates: int = 8,
    seed: int = 0,
    timeout_s: float = 60,
) -> list[dict[str, Any]]:
    """The service's top configurations for a workload (``POST {url}/v1/recommend``); the bearer token, if the
    service wants one, comes from ``$KNOBRAY_SERVE_TOKEN``.

    Raises:
        KnobrayError: The service cannot be reached, or refused the request (its one-line reason).
    """
    body = {
        "engine": engine, "workload": list(queries), "slot": {"cpus": cpus, "memory_gb": memory_bytes / 1024**3},
        "top": min(top, 8), "candidates": min(max(candidates, top), 32), "seed": seed,
    }  # fmt: skip
    request = urllib.request.Request(
        url.rstrip("/") + "/v1/recommend", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    if os.environ.get(TOKEN_ENV):
        request.add_header("Authorization", f"Bearer {os.environ[TOKEN_ENV]}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            doc = json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail")
        except (ValueError, AttributeError):
            detail = exc.reason
        hint = f"; set {TOKEN_ENV}" if exc.code == 401 else ""
        raise KnobrayError(
            f"the service at {url} refused the recommendation ({exc.code}: {detail}){hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KnobrayError(
            f"cannot reach the knobray service at {url} ({reason}); start it with python -m serve"
        ) from None
    return [r["config"] for r in doc["recommendations"]]
