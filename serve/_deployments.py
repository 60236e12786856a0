"""One Ray Serve deployment per model kind: the cost model, the recommender, the LakeHelm MoE.

Each deployment loads its models by id with ``@serve.multiplexed`` (the ``default`` one at start, so that a
model that fails to load shows in ``status()`` and ``/healthz`` instead of crashing the replica), and answers
through ``@serve.batch``: concurrent calls for one model run as one batch in a worker thread, the event loop
staying free to take the next ones. Calls return an outcome or a :class:`Failure`, never raise for bad input.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ray import serve

from raytune.errors import KnobrayError
from serve._settings import DEFAULT_MODEL, ServeSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """What went wrong with one call, as the HTTP status and one line the ingress returns."""

    status: int
    message: str


@dataclass(frozen=True)
class PredictCall:
    configs: list[dict[str, Any]]
    workload: Any  # trainables.dann.WorkloadInput


@dataclass(frozen=True)
class Predicted:
    latencies: list[float]
    version: str


@dataclass(frozen=True)
class RecommendCall:
    workload: Any  # trainables.dann.WorkloadInput
    step: Any  # trainables.recommender.Step | None
    candidates: int
    top: int
    seed: int
    cost_model: str


@dataclass(frozen=True)
class Recommended:
    recommendations: list[Any]  # trainables.recommender.Recommendation
    version: str
    cost_model_version: str


@dataclass(frozen=True)
class Selected:
    selection: Any  # trainables.moe.Selection
    version: str
    benchmark: str


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _ModelServer:
    """Loading, status and batching shared by the model deployments; subclasses name their kind, how a model
    loads, and how a batch of calls runs on one model."""

    kind = ""

    def __init__(self, settings: ServeSettings) -> None:
        import torch

        torch.set_num_threads(1)  # replicas share the machine's cores with each other and the proxy
        self.settings = settings
        self.paths = settings.models[self.kind]
        self.errors: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.preloaded: dict[str, Any] = {}
        self.calls = self.batches = 0  # answered calls, and the model runs that answered them
        try:
            model = self.load(DEFAULT_MODEL)
            self.run_batch(model, [self.warm_up_call()])  # first-call costs paid before readiness
            self.preloaded[DEFAULT_MODEL] = model
        except Exception as exc:  # noqa: BLE001 - any load failure is reported by /healthz, not raised
            self.errors[DEFAULT_MODEL] = _first_line(exc)
            logger.error("%s %s failed to load: %s", self.kind, DEFAULT_MODEL, self.errors[DEFAULT_MODEL])
        self._batched.set_max_batch_size(settings.max_batch_size)
        self._batched.set_batch_wait_timeout_s(settings.batch_wait_s)

    # -- what subclasses define
    def load_model(self, path: Any) -> Any:
        raise NotImplementedError

    def run_batch(self, model: Any, calls: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def warm_up_call(self) -> Any:
        raise NotImplementedError

    # -- shared
    def load(self, model_id: str) -> Any:
        model = self.load_model(self.settings.model_path(self.kind, model_id))
        self.versions[model_id] = str(getattr(model, "version", model_id))
        return model

    def status(self) -> list[dict[str, Any]]:
        """One entry per configured model: id, path, version, whether loaded, the load error, and this
        replica's calls and batches so far (all models together)."""
        return [
            {
                "kind": self.kind, "id": model_id, "path": path or "(shipped)",
                "version": self.versions.get(model_id), "loaded": model_id in self.versions,
                "error": self.errors.get(model_id), "calls": self.calls, "batches": self.batches,
            }
            for model_id, path in self.paths.items()
        ]  # fmt: skip

    @serve.multiplexed(max_num_models_per_replica=4)
    async def get_model(self, model_id: str) -> Any:
        if model_id in self.preloaded:
            return self.preloaded[model_id]
        return await asyncio.to_thread(self.load, model_id)

    async def resolve(self, model_id: str) -> Any:
        """The model ``model_id`` (loaded now if needed; a failed load is tried again on a later call), or the
        :class:`Failure` to answer with."""
        if model_id not in self.paths:
            kind = self.kind.replace("_", " ")
            return Failure(404, f"no {kind} model {model_id!r}; GET /v1/models lists them")
        try:
            model = await self.get_model(model_id)
        except Exception as exc:  # noqa: BLE001 - reported per call and by status()
            self.errors[model_id] = _first_line(exc)
            return Failure(503, f"{self.kind} model {model_id} failed to load: {self.errors[model_id]}")
        self.errors.pop(model_id, None)
        return model

    async def call(self, item: Any) -> Any:
        """One call, batched with concurrent ones for the same model unless batching is off. The model is
        resolved first, so that loading one never holds up the batches of the others."""
        model = await self.resolve(serve.get_multiplexed_model_id() or DEFAULT_MODEL)
        if isinstance(model, Failure):
            return model
        if self.settings.batching:
            return await self._batched(item)
        return (await self.run_calls(model, [item]))[0]

    async def _batched(self, items: list[Any]) -> list[Any]:
        raise NotImplementedError  # each subclass's own @serve.batch method: one batch queue per model kind

    async def run_batched(self, items: list[Any]) -> list[Any]:
        """The body of the subclasses' batched methods (a batch holds calls for one model id)."""
        model = await self.resolve(serve.get_multiplexed_model_id() or DEFAULT_MODEL)
        if isinstance(model, Failure):
            return [model] * len(items)
        return await self.run_calls(model, items)

    async def run_calls(self, model: Any, items: list[Any]) -> list[Any]:
        self.calls, self.batches = self.calls + len(items), self.batches + 1
        return await asyncio.to_thread(self._guarded, model, items)

    def _guarded(self, model: Any, items: list[Any]) -> list[Any]:
        """The batch's results; when the batch fails, each call alone, so that one call's bad input (400) or a
        bug it hits (500, logged) does not fail the others."""
        if len(items) > 1:
            try:
                return self.run_batch(model, items)
            except Exception:  # noqa: BLE001 - retried one by one below
                pass
        out: list[Any] = []
        for item in items:
            try:
                out.append(self.run_batch(model, [item])[0])
            except KnobrayError as exc:
                out.append(Failure(400, _first_line(exc)))
            except Exception as exc:  # noqa: BLE001 - a bug: logged with its traceback, answered 500
                logger.exception("%s call failed", self.kind)
                out.append(Failure(500, f"internal error in the {self.kind} deployment: {_first_line(exc)}"))
        return out


def _sample_workload() -> Any:
    from trainables.recommender import queries_workload

    return queries_workload(["SELECT count(*) FROM lineitem WHERE l_quantity < 10"], "postgres", 2, 8 << 30)


@serve.deployment(name="cost_model", max_ongoing_requests=256, ray_actor_options={"num_cpus": 0})
class CostModelServer(_ModelServer):
    """``call(PredictCall)`` -> ``Predicted``: the DANN cost model's latency for each configuration."""

    kind = "cost_model"

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _batched(self, items: list[Any]) -> list[Any]:
        return await self.run_batched(items)

    def load_model(self, path: Any) -> Any:
        from trainables.dann import CostModel

        return CostModel.load(path)

    def warm_up_call(self) -> PredictCall:
        return PredictCall([{}], _sample_workload())

    def run_batch(self, model: Any, calls: Sequence[PredictCall]) -> list[Predicted]:
        latencies = model.predict_many([(c.configs, c.workload) for c in calls])
        return [Predicted([float(x) for x in lat], model.version) for lat in latencies]


@serve.deployment(name="recommender", max_ongoing_requests=128, ray_actor_options={"num_cpus": 0})
class RecommenderServer(_ModelServer):
    """``recommend(RecommendCall)`` -> ``Recommended``: candidates sampled here (batched), ranked by the cost
    model deployment."""

    kind = "recommender"

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _batched(self, items: list[Any]) -> list[Any]:
        return await self.run_batched(items)

    def __init__(self, settings: ServeSettings, cost_model: Any) -> None:
        self.cost_model = cost_model
        super().__init__(settings)

    def load_model(self, path: Any) -> Any:
        from trainables.recommender import Recommender

        return Recommender.load(path)

    def warm_up_call(self) -> RecommendCall:
        return RecommendCall(_sample_workload(), None, 8, 1, 0, DEFAULT_MODEL)

    def run_batch(self, model: Any, calls: Sequence[RecommendCall]) -> list[tuple[list[dict[str, Any]], str]]:
        from trainables.recommender import SampleRequest

        requests = [SampleRequest(c.workload, c.step, c.candidates, c.seed) for c in calls]
        return [(configs, model.version) for configs in model.sample_many(requests)]

    async def recommend(self, call: RecommendCall) -> Recommended | Failure:
        from trainables.recommender import rank_candidates

        sampled = await self.call(call)
        if isinstance(sampled, Failure):
            return sampled
        configs, version = sampled
        predicted = await self.cost_model.call.options(multiplexed_model_id=call.cost_model).remote(
            PredictCall([{}, *configs], call.workload)
        )
        if isinstance(predicted, Failure):
            return predicted
        ranked = rank_candidates(configs, predicted.latencies, call.top)
        return Recommended(ranked, version, predicted.version)


@serve.deployment(name="moe", max_ongoing_requests=64, ray_actor_options={"num_cpus": 0})
class SelectorServer(_ModelServer):
    """``call(list of plans)`` -> ``Selected``: LakeHelm's MoE choice of engine, lake format and config."""

    kind = "moe"

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002)
    async def _batched(self, items: list[Any]) -> list[Any]:
        return await self.run_batched(items)

    def load_model(self, path: Any) -> Any:
        from trainables.moe import MoESelector

        return MoESelector.load(path)

    def warm_up_call(self) -> list[str]:
        return ["== Optimized Logical Plan ==\nProject [a#1]\n+- Relation default.lineitem[a#1] parquet"]

    def run_batch(self, model: Any, calls: Sequence[list[str]]) -> list[Selected]:
        return [Selected(model.select(plans), model.version, model.benchmark) for plans in calls]


MODEL_DEPLOYMENTS: dict[str, Callable[..., Any]] = {
    "cost_model": CostModelServer,
    "recommender": RecommenderServer,
    "moe": SelectorServer,
}
