"""The search's stages run in this process, one trial at a time, against a tabulated or surrogate backend.

The stages (baselines, optimizer, confirmation), the searchers (the same Ray Tune search algorithms, driven
through their ``suggest`` / ``on_trial_complete`` interface), the penalties and the records are those of the
Ray Tune path; only the dispatch differs: a replayed or predicted trial takes microseconds, so Ray workers
would add nothing but start-up time. Time is simulated: the clock advances by each record's measured
``timings.total_s`` divided by the search's instances, and ``--time-budget`` bounds that clock.

Resume needs no saved searcher state: the store holds every finished trial, so a resumed stage skips the given
configurations already recorded and shows the optimizer every recorded trial before asking for the rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from ray.tune.search import BasicVariantGenerator, Searcher

from raytune.backends import TrialBackend, config_key
from raytune.confirmation import search_rows
from raytune.knobs import KnobSpace
from raytune.optimizers import decode
from raytune.records import Objective, PenaltyState, TrialStatus, new_trial_id
from raytune.storage import TrialStore
from raytune.tune._callbacks import write_record
from raytune.tune._trainable import CONFIG_KEY

WARM_START = "warm-start"  # the optimizer column of warm-start runs (raytune.tune._run measures them first)

logger = logging.getLogger(__name__)


class LocalFit:
    """Runs one stage of a search (the ``fit`` of ``run_search``) against ``backend`` in this process."""

    def __init__(
        self,
        backend: TrialBackend,
        store: TrialStore,
        objective: Objective,
        space: KnobSpace,
        *,
        instances: int,
        seed: int,
        time_budget_s: float | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.objective = objective
        self.space = space
        self.instances = max(1, instances)
        self.seed = seed
        self.time_budget_s = time_budget_s
        self.on_record = on_record
        worst = objective.worst(
            r["objective"] for r in search_rows(store.rows()) if r["status"] == "SUCCEEDED"
        )
        self.penalty = PenaltyState(objective, worst)
        self.clock_s = 0.0  # simulated seconds

    def __call__(
        self, run_name: str, space: dict[str, Any], alg: Any, n: int, limit: int, optimizer: str
    ) -> None:
        if CONFIG_KEY in space:
            self._run_given([json.loads(v) for v in space[CONFIG_KEY]["grid_search"]], optimizer)
        else:
            self._run_optimizer(space, alg, n, optimizer, budget=run_name == "search")

    def _run_given(self, items: list[dict[str, Any]], optimizer: str) -> None:
        """Given configurations (baselines, ``configs``, confirmation runs), each once, skipping recorded ones."""
        done = {_given_key(r) for r in self.store.rows()}
        for item in items:
            if _given_key(item) in done:
                continue
            given = {
                "baseline": item.get("label"),
                "confirms": item.get("confirms"),
                "round": item.get("round"),
            }
            self._measure(item["config"], optimizer, given)

    def _run_optimizer(
        self, space: dict[str, Any], alg: Any, n: int, optimizer: str, *, budget: bool
    ) -> None:
        """``n`` optimizer trials; the ones a resumed search already recorded count (the optimizer saw them)."""
        recorded = [
            r
            for r in search_rows(self.store.rows())
            if not r.get("baseline") and r.get("optimizer") != WARM_START
        ]
        left = n - len(recorded)
        start = self.clock_s
        if isinstance(alg, BasicVariantGenerator):
            rng = np.random.default_rng(self.seed)
            draws = [_sample(space, rng) for _ in range(n)][len(recorded) :]
            suggest: Callable[[str], dict[str, Any] | None] = lambda _tid: draws.pop(0)  # noqa: E731
            complete: Callable[[str, float | None], None] = lambda _tid, _score: None  # noqa: E731
        else:
            alg.set_search_properties(metric="score", mode=self.objective.mode, config=space)
            suggest = alg.suggest
            complete = _completer(alg)
        for _ in range(max(left, 0)):
            if budget and self.time_budget_s is not None and self.clock_s - start >= self.time_budget_s:
                logger.info("the time budget of %.0f simulated seconds is spent", self.time_budget_s)
                return
            trial_id = new_trial_id()
            params = suggest(trial_id)
            if params is None or params == Searcher.FINISHED:
                raise RuntimeError(f"optimizer {optimizer} suggested nothing for trial {trial_id}")
            score = self._measure(decode(self.space, params), optimizer, {}, trial_id)
            complete(trial_id, score)

    def _measure(
        self, config: dict[str, Any], optimizer: str, given: dict[str, Any], trial_id: str | None = None
    ) -> float | None:
        record = self.backend.measure(config, trial_id or new_trial_id())
        status = record.status
        if status is TrialStatus.INFRA_ERROR:
            score = None  # never the config's fault: not scored, not shown to the optimizer
        else:
            censored = record.objective if status is TrialStatus.TIMED_OUT else None
            value = record.objective if status is TrialStatus.SUCCEEDED else None
            score = self.penalty.score(value, status.penalised, censored)
        self.clock_s += float(record.timings.get("total_s") or 0.0) / self.instances
        write_record(
            self.store, record, score=score, optimizer=optimizer, given=given, on_record=self.on_record
        )
        return score


def _given_key(item: dict[str, Any]) -> str:
    """What identifies a given configuration's run: baseline label, or confirmation target and round, or the
    configuration itself (``configs``)."""
    label = item.get("label", item.get("baseline"))
    if item.get("confirms"):
        return f"confirm:{item['confirms']}:{item.get('round')}"
    if label:
        return f"baseline:{label}"
    return f"config:{config_key(item.get('config') or {})}"


def _sample(space: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One random point of a Ray Tune parameter space (what random search draws)."""
    return {name: domain.sample(random_state=rng) for name, domain in space.items()}


def _completer(alg: Any) -> Callable[[str, float | None], None]:
    def complete(trial_id: str, score: float | None) -> None:
        if score is None:
            alg.on_trial_complete(trial_id, result=None, error=True)
        else:
            alg.on_trial_complete(trial_id, result={"score": score})

    return complete
