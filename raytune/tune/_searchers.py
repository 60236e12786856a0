"""Optimizers selectable with ``--optimizer``, as Ray Tune search algorithms."""

from __future__ import annotations

import json
from typing import Any

from ray import tune
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from raytune.errors import KnobrayError
from raytune.optimizers import OPTIMIZERS, ParamKind, ParamSpec
from raytune.tune._trainable import CONFIG_KEY


def param_space(specs: list[ParamSpec]) -> dict[str, Any]:
    """Ray Tune domains for the parameters (upper bounds inclusive)."""
    space: dict[str, Any] = {}
    for spec in specs:
        if spec.kind is ParamKind.CHOICE:
            space[spec.name] = tune.choice(list(spec.choices))
        elif spec.kind is ParamKind.INT:
            lo, hi = int(spec.lower), int(spec.upper) + 1
            space[spec.name] = tune.lograndint(lo, hi) if spec.log else tune.randint(lo, hi)
        else:
            space[spec.name] = (
                tune.loguniform(spec.lower, spec.upper) if spec.log else tune.uniform(spec.lower, spec.upper)
            )
    return space


def configs_space(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A parameter space that runs each given configuration once, in order.

    Each item has ``config`` and optionally ``label`` (a baseline's name), ``confirms`` and ``round``
    (confirmation runs).
    """
    values = [json.dumps(item, sort_keys=True) for item in items]
    return {CONFIG_KEY: tune.grid_search(values)}


def make_search_alg(
    name: str,
    specs: list[ParamSpec],
    *,
    mode: str,
    seed: int,
    max_concurrent: int,
    n_trials: int,
    known_points: list[dict[str, Any]] | None = None,
    known_scores: list[float] | None = None,
) -> Any:
    """The search algorithm ``name``, warm-started with already measured points (the baselines).

    Raises:
        KnobrayError: For an unknown optimizer name.
    """
    points = known_points or None
    rewards = known_scores if known_points else None
    if name == "hebo":
        from ray.tune.search.hebo import HEBOSearch

        alg: Any = HEBOSearch(
            metric="score",
            mode=mode,
            points_to_evaluate=points,
            evaluated_rewards=rewards,
            random_state_seed=seed,
            max_concurrent=max_concurrent,
        )
    elif name == "tpe":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        alg = OptunaSearch(
            metric="score",
            mode=mode,
            points_to_evaluate=points,
            evaluated_rewards=rewards,
            sampler=optuna.samplers.TPESampler(seed=seed),
        )
    elif name == "smac":
        from raytune.tune._smac import SMACSearcher

        alg = SMACSearcher(
            specs,
            metric="score",
            mode=mode,
            n_trials=n_trials,
            seed=seed,
            points_to_evaluate=points,
            evaluated_rewards=rewards,
        )
    elif name in ("random", "configs"):
        return BasicVariantGenerator(random_state=seed, max_concurrent=max_concurrent)
    else:
        raise KnobrayError(f"unknown optimizer {name!r}; use one of: {', '.join(OPTIMIZERS)}")
    return ConcurrencyLimiter(alg, max_concurrent=max_concurrent)
