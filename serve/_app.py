"""The knobray service: a FastAPI ingress deployment in front of the model deployments, composed with handles.

The ingress validates every field (pydantic for shapes, the knob catalogs and the SQL parser for meaning: SQL
is parsed, never executed), admits at most ``max_inflight`` requests per endpoint (more get 429 with
``Retry-After`` at once, so that overload never builds an unbounded queue), and maps a model deployment's
full queue to 503. Errors are ``{"detail": one line}``; pydantic's 422 keeps FastAPI's shape.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from ray import serve
from ray.serve.exceptions import BackPressureError

from raytune.errors import KnobrayError
from serve import _schemas as s
from serve._deployments import (
    CostModelServer,
    Failure,
    PredictCall,
    RecommendCall,
    RecommenderServer,
    SelectorServer,
    _first_line,
)
from serve._guard import Guard
from serve._inputs import check_config, current_step, render, slot_shape, workload_input
from serve._settings import DEFAULT_MODEL, ServeSettings, settings_from_args

logger = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": s.ErrorBody, "description": text}
    for code, text in {
        400: "bad input (one line naming the problem and the fix)",
        401: "missing or wrong bearer token",
        404: "unknown model id",
        413: "request body too large",
        429: "too many requests in flight on this endpoint; retry after Retry-After seconds",
        503: "a model is not loaded, or its deployment's queue is full; retry after Retry-After seconds",
    }.items()
}
RETRY_AFTER_S = 1
DESCRIPTION = (
    "knobray's learned tuners over HTTP: knob recommendations (E2ETune-style recommender ranked by the DANN cost "
    "model), cost-model predictions, and LakeHelm's engine / lake format / config selection. Predictions are "
    "the models' estimates, never measurements."
)


def _error(status: int, detail: str) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status in (429, 503) else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class WorkloadCache:
    """Parsed workloads by (engine, hash of the queries, slot), least recently used dropped past ``size``: callers repeat
    workloads, and a parse (sqlglot, tens of ms for a long workload) runs in a worker thread, off the event
    loop that answers every other request."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    async def get(self, engine: str, workload: str | list[str], shape: Any) -> Any:
        key = (
            engine,
            workload if isinstance(workload, str) else tuple(workload),
            shape.cpus,
            shape.memory_bytes,
        )
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        value = await asyncio.to_thread(workload_input, engine, workload, shape)
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


def _make_api(settings: ServeSettings) -> FastAPI:
    dependencies = [Depends(HTTPBearer(auto_error=False))] if settings.token else []
    api = FastAPI(title="knobray", version="0.1.0", description=DESCRIPTION, dependencies=dependencies)
    api.add_middleware(Guard, token=settings.token, max_body_bytes=settings.max_body_bytes)
    api.add_exception_handler(RequestValidationError, _validation_error)
    return api


async def _validation_error(request: Any, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without the offending inputs (an infinite number in one cannot be written as JSON)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


def _ingress(settings: ServeSettings) -> Any:
    api = _make_api(settings)

    @serve.deployment(
        name="api",
        max_ongoing_requests=sum(settings.max_inflight.values()) + 8,
        max_queued_requests=settings.ingress_queue,
        backpressure_config={"status_code": 503, "retry_after_s": RETRY_AFTER_S},
        ray_actor_options={"num_cpus": 0},
    )
    @serve.ingress(api)
    class Api:
        def __init__(self, settings: ServeSettings, recommender: Any, cost_model: Any, moe: Any) -> None:
            self.settings = settings
            self.handles = {"recommender": recommender, "cost_model": cost_model, "moe": moe}
            self.inflight = dict.fromkeys(settings.max_inflight, 0)
            self.workloads = WorkloadCache()

        async def _admit(self, endpoint: str, work: Callable[[], Awaitable[Any]]) -> Any:
            limit = self.settings.max_inflight[endpoint]
            if self.inflight[endpoint] >= limit:
                return _error(
                    429, f"busy: {limit} {endpoint} requests in flight; retry after {RETRY_AFTER_S} s"
                )
            self.inflight[endpoint] += 1
            try:
                result = await work()
            except KnobrayError as exc:
                return _error(400, _first_line(exc))
            except BackPressureError:
                return _error(503, f"the {endpoint} model's queue is full; retry after {RETRY_AFTER_S} s")
            finally:
                self.inflight[endpoint] -= 1
            return _error(result.status, result.message) if isinstance(result, Failure) else result

        @api.post("/v1/recommend", response_model=s.RecommendResponse, responses=ERRORS)
        async def recommend(self, body: s.RecommendRequest) -> Any:
            """Ranked configurations for a workload, with ready-to-apply statements and predicted gains."""

            async def work() -> Any:
                model_id = body.model or DEFAULT_MODEL  # an unknown id: 404 from its deployment
                cost_id = body.cost_model or DEFAULT_MODEL
                shape = slot_shape(body.slot)
                call = RecommendCall(
                    await self.workloads.get(body.engine, body.workload, shape), current_step(body.engine, body.current),
                    body.candidates, body.top, body.seed, cost_id,
                )  # fmt: skip
                handle = self.handles["recommender"].recommend.options(multiplexed_model_id=model_id)
                result = await handle.remote(call)
                if isinstance(result, Failure):
                    return result
                return s.RecommendResponse(
                    engine=body.engine, slot=shape.describe(), model=result.version,
                    cost_model=result.cost_model_version,
                    recommendations=[_recommended(body.engine, r) for r in result.recommendations],
                )  # fmt: skip

            return await self._admit("recommend", work)

        @api.post("/v1/predict", response_model=s.PredictResponse, responses=ERRORS)
        async def predict(self, body: s.PredictRequest) -> Any:
            """The cost model's predicted total latency of the workload under each configuration."""

            async def work() -> Any:
                model_id = body.model or DEFAULT_MODEL
                shape = slot_shape(body.slot)
                w = await self.workloads.get(body.engine, body.workload, shape)
                configs = [check_config(body.engine, c, f"configs[{i}]") for i, c in enumerate(body.configs)]
                handle = self.handles["cost_model"].call.options(multiplexed_model_id=model_id)
                result = await handle.remote(PredictCall([{}, *configs], w))
                if isinstance(result, Failure):
                    return result
                default, *rest = result.latencies
                return s.PredictResponse(
                    engine=body.engine, slot=shape.describe(), default_latency_s=default, model=result.version,
                    predictions=[s.Prediction(total_latency_s=x, ratio_to_default=x / default) for x in rest],
                )  # fmt: skip

            return await self._admit("predict", work)

        @api.post("/v1/select", response_model=s.SelectResponse, responses=ERRORS)
        async def select(self, body: s.SelectRequest) -> Any:
            """LakeHelm's MoE: engine, data-lake format and config for a workload of Spark plans."""

            async def work() -> Any:
                model_id = body.model or DEFAULT_MODEL
                handle = self.handles["moe"].call.options(multiplexed_model_id=model_id)
                result = await handle.remote(list(body.plans))
                if isinstance(result, Failure):
                    return result
                c = result.selection
                return s.SelectResponse(
                    engine=c.engine, lake=c.lake, config=c.config, predicted_ratio=c.predicted_ratio,
                    mode=c.mode, benchmark=result.benchmark, model=result.version,
                )  # fmt: skip

            return await self._admit("select", work)

        async def _statuses(self) -> list[dict[str, Any]]:
            groups = await asyncio.wait_for(
                asyncio.gather(*(h.status.remote() for h in self.handles.values())), timeout=10
            )
            return [entry for group in groups for entry in group]

        @api.get("/v1/models", response_model=s.ModelsResponse, responses=ERRORS)
        async def models(self) -> Any:
            """Every configured model: kind, id, directory, version, whether it is loaded, its load error."""
            return s.ModelsResponse(models=[s.ModelInfo(**m) for m in await self._statuses()])

        @api.get("/healthz", response_model=s.Health, responses={503: {"model": s.Health}})
        async def healthz(self) -> Any:
            """Ready when every kind's default model is loaded (no token needed)."""
            try:
                statuses = await self._statuses()
            except TimeoutError:
                return JSONResponse(
                    {"status": "not ready", "problems": ["model deployments did not answer"]}, 503
                )
            problems = [
                f"{m['kind']} {m['id']}: {m['error']}"
                for m in statuses
                if m["id"] == DEFAULT_MODEL and not m["loaded"]
            ]
            if problems:
                return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
            return s.Health(status="ready", problems=[])

    return Api


def _recommended(engine: str, r: Any) -> s.RecommendedConfig:
    statements, config_file = render(engine, r.config)
    return s.RecommendedConfig(
        config=r.config, predicted_ratio=r.predicted_ratio, predicted_gain_pct=r.predicted_gain_pct,
        statements=statements, config_file=config_file,
    )  # fmt: skip


def build_app(settings: ServeSettings | None = None) -> Any:
    """The knobray Serve application (an ``Application`` for ``serve.run``)."""
    settings = settings or ServeSettings()
    queued = {"max_queued_requests": settings.max_queued}
    cost_model = CostModelServer.options(**queued).bind(settings)
    recommender = RecommenderServer.options(**queued).bind(settings, cost_model)
    moe = SelectorServer.options(**queued).bind(settings)
    return _ingress(settings).bind(settings, recommender, cost_model, moe)


def app_builder(args: dict[str, Any]) -> Any:
    """The application for ``serve run`` / ``serve deploy`` of ``serve/config.yaml`` (its ``args``)."""
    return build_app(settings_from_args(args))
