"""SMAC3 as a Ray Tune searcher: SMAC's ask/tell behind Tune's ``Searcher`` interface (Ray ships none)."""

from __future__ import annotations

import logging
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher

from raytune.optimizers import ParamKind, ParamSpec

logger = logging.getLogger(__name__)


def _configspace(specs: list[ParamSpec], seed: int) -> Any:
    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer

    cs = ConfigurationSpace(seed=seed)
    for spec in specs:
        if spec.kind is ParamKind.CHOICE:
            cs.add(Categorical(spec.name, list(spec.choices)))
        elif spec.kind is ParamKind.INT:
            cs.add(Integer(spec.name, (int(spec.lower), int(spec.upper)), log=spec.log))
        else:
            cs.add(Float(spec.name, (spec.lower, spec.upper), log=spec.log))
    return cs


class SMACSearcher(Searcher):
    """Bayesian optimisation with random forests (SMAC3's hyperparameter-optimisation facade).

    Args:
        specs: The parameters (from ``raytune.optimizers.param_specs``).
        metric: Metric reported by trials.
        mode: ``min`` or ``max``.
        n_trials: Budget SMAC plans its initial design for.
        seed: Random seed.
        points_to_evaluate: Configurations to try first.
        evaluated_rewards: Results already known for ``points_to_evaluate`` (then they are told, not run).
    """

    def __init__(
        self,
        specs: list[ParamSpec],
        metric: str,
        mode: str,
        n_trials: int = 100,
        seed: int = 0,
        points_to_evaluate: list[dict[str, Any]] | None = None,
        evaluated_rewards: list[float] | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.specs = specs
        self.n_trials = n_trials
        self.seed = seed
        self._pending = list(points_to_evaluate or []) if evaluated_rewards is None else []
        self._observations: list[tuple[dict[str, Any], float]] = []
        self._live: dict[str, Any] = {}
        self._smac: Any = None
        if evaluated_rewards is not None:
            for point, reward in zip(points_to_evaluate or [], evaluated_rewards, strict=True):
                self._observations.append((point, self._cost(reward)))

    def _cost(self, value: float) -> float:
        return float(value) if self.mode == "min" else -float(value)

    def _build(self) -> Any:
        from smac import HyperparameterOptimizationFacade, Scenario
        from smac.runhistory.dataclasses import TrialInfo, TrialValue

        cs = _configspace(self.specs, self.seed)
        self._workdir = tempfile.mkdtemp(prefix="knobray-smac-")
        scenario = Scenario(
            cs,
            deterministic=True,
            n_trials=max(self.n_trials, 10),
            seed=self.seed,
            output_directory=Path(self._workdir),
        )
        initial = HyperparameterOptimizationFacade.get_initial_design(
            scenario, n_configs=min(5, self.n_trials)
        )
        smac = HyperparameterOptimizationFacade(
            scenario,
            target_function=lambda config, seed=0: 0.0,
            initial_design=initial,
            overwrite=True,
            logging_level=40,
        )
        from ConfigSpace import Configuration

        for point, cost in self._observations:
            smac.tell(TrialInfo(config=Configuration(cs, values=point), seed=0), TrialValue(cost=cost))
        self._trial_info, self._trial_value, self._configuration = TrialInfo, TrialValue, Configuration
        self._cs = cs
        return smac

    def __del__(self) -> None:
        # SMAC insists on an output directory; nothing in it is needed once the searcher is gone.
        workdir = getattr(self, "_workdir", None)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._smac is None:
            self._smac = self._build()
        if self._pending:
            point = self._pending.pop(0)
            info = self._trial_info(config=self._configuration(self._cs, values=point), seed=0)
        else:
            info = self._smac.ask()
        self._live[trial_id] = info
        return dict(info.config)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        info = self._live.pop(trial_id, None)
        if info is None or result is None or self.metric not in result:
            return
        cost = self._cost(result[self.metric])
        self._smac.tell(info, self._trial_value(cost=cost))
        self._observations.append((dict(info.config), cost))

    def save(self, checkpoint_path: str) -> None:
        state = {
            "observations": self._observations,
            "pending": self._pending,
            "seed": self.seed,
            "n_trials": self.n_trials,
            "specs": self.specs,
            "metric": self.metric,
            "mode": self.mode,
        }
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(state, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            state = pickle.load(fh)
        self._observations = state["observations"]
        self._pending = state["pending"]
        self.seed, self.n_trials, self.specs = state["seed"], state["n_trials"], state["specs"]
        self._metric, self._mode = state["metric"], state["mode"]
        self._smac = None  # rebuilt from the observations on the next suggestion
