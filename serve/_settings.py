"""What a knobray service runs: where it listens, its token, its limits and its model directories.

One frozen value, built by ``python -m serve`` from its options or by :func:`app_builder` from a Serve config
file's ``args``, and passed to every deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError

MODEL_KINDS = ("recommender", "cost_model", "moe")
DEFAULT_MODEL = "default"
SHIPPED = ""  # a model path that means "the one shipped with knobray"


@dataclass(frozen=True)
class ServeSettings:
    """Attributes:
    host, port: Where the HTTP proxy listens (loopback by default).
    token: Bearer token every endpoint but ``/healthz`` requires (None: no token).
    max_body_bytes: Larger request bodies get 413.
    batching: Whether model calls are batched (``@serve.batch``).
    max_batch_size, batch_wait_s: The batches' size and how long a batch waits to fill.
    max_inflight: Per endpoint, requests being answered at once; more get 429 at once (bounded queues).
    max_queued: Per model deployment, calls waiting for a replica; more get 503.
    ingress_queue: Requests the HTTP proxy holds for the ingress beyond those it is answering (the sum of
        ``max_inflight`` and a few for ``/healthz`` and ``/v1/models``); more get 503 from the proxy at once.
    models: Per kind, model id -> directory (``""``: the one shipped); the id ``default`` answers requests
        that name no model.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_body_bytes: int = 1 << 20
    batching: bool = True
    max_batch_size: int = 16
    batch_wait_s: float = 0.002
    max_inflight: dict[str, int] = field(default_factory=lambda: {"predict": 32, "recommend": 8, "select": 8})
    max_queued: int = 64
    ingress_queue: int = 16
    models: dict[str, dict[str, str]] = field(
        default_factory=lambda: {kind: {DEFAULT_MODEL: SHIPPED} for kind in MODEL_KINDS}
    )

    def model_path(self, kind: str, model_id: str) -> Path | None:
        """The directory of a model (None: the shipped one)."""
        path = self.models[kind][model_id]
        return Path(path) if path else None


def parse_model_options(options: list[str]) -> dict[str, dict[str, str]]:
    """``KIND=DIR`` or ``KIND:ID=DIR`` options (a plain ``KIND=DIR`` replaces that kind's default model).

    Raises:
        KnobrayError: An unknown kind or a malformed option.
    """
    models = {kind: {DEFAULT_MODEL: SHIPPED} for kind in MODEL_KINDS}
    for option in options:
        key, sep, path = option.partition("=")
        kind, _, model_id = key.replace("-", "_").partition(":")
        if not sep or not path or kind not in MODEL_KINDS:
            raise KnobrayError(
                f"bad --model {option!r}; use KIND=DIR or KIND:ID=DIR with KIND one of {', '.join(MODEL_KINDS)}"
            )
        models[kind][model_id or DEFAULT_MODEL] = path
    return models


def settings_from_args(args: dict[str, Any]) -> ServeSettings:
    """Settings from a Serve config file's ``args`` (keys as the command-line options, with ``_``).

    Raises:
        KnobrayError: An unknown key, or a token file that cannot be read.
    """
    args = dict(args or {})
    known = {"token_file", "model", "no_batching", "max_body_bytes", "max_batch_size", "max_queued"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise KnobrayError(f"unknown serve args {', '.join(unknown)}; use {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {"token": read_token(args["token_file"]) if args.get("token_file") else None}
    if args.get("model"):
        kwargs["models"] = parse_model_options(list(args["model"]))
    if args.get("no_batching"):
        kwargs["batching"] = False
    for key in ("max_body_bytes", "max_batch_size", "max_queued"):
        if args.get(key) is not None:
            kwargs[key] = int(args[key])
    return ServeSettings(**kwargs)


def read_token(path: str | Path) -> str:
    """The token in a file (surrounding whitespace dropped).

    Raises:
        KnobrayError: The file cannot be read or is empty.
    """
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise KnobrayError(
            f"cannot read the token file {path} ({exc.strerror}); pass a readable file"
        ) from None
    if not token:
        raise KnobrayError(f"the token file {path} is empty; write a token into it")
    return token
