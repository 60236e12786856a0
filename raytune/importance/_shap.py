"""Knob importance from a cost model: the mean absolute SHAP value of each knob on the predicted log latency,
over configurations sampled by a Latin hypercube, averaged over workloads (shap's permutation explainer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from raytune.importance._rank import KnobRanking
from raytune.knobs import KnobSpace
from raytune.optimizers import ParamKind, decode, param_specs


def shap_ranking(
    model: Any, workloads: Sequence[Any], space: KnobSpace, samples: int = 96, seed: int = 0
) -> KnobRanking:
    """The ranking of ``space``'s knobs by ``model`` (``predict(configs, workload)``) over ``workloads``."""
    import shap

    from raytune.corpus import latin_hypercube

    specs = param_specs(space)
    params = latin_hypercube(specs, samples, seed)
    matrix = np.array([[_code(s, p[s.name]) for s in specs] for p in params], dtype=float)
    totals = np.zeros(len(specs))
    for workload in workloads:

        def f(x: np.ndarray, workload: Any = workload) -> np.ndarray:
            configs = [
                decode(space, {s.name: _uncode(s, v) for s, v in zip(specs, row, strict=True)}) for row in x
            ]
            return np.log(np.asarray(model.predict(configs, workload), dtype=float))

        background = matrix[: samples // 3]
        explainer = shap.PermutationExplainer(f, background, seed=seed)
        values = explainer(matrix[samples // 3 :], silent=True).values
        totals += np.abs(values).mean(axis=0)
    share = totals / max(totals.sum(), 1e-12)
    ranked = dict(
        sorted(((s.name, float(v)) for s, v in zip(specs, share, strict=True)), key=lambda kv: -kv[1])
    )
    return KnobRanking(space.engine, "shap", samples * len(workloads), ranked)


def _code(spec: Any, value: Any) -> float:
    return float(list(spec.choices).index(value)) if spec.kind is ParamKind.CHOICE else float(value)


def _uncode(spec: Any, value: float) -> Any:
    if spec.kind is ParamKind.CHOICE:
        return spec.choices[int(round(value)) % len(spec.choices)]
    return int(round(value)) if spec.kind is ParamKind.INT else float(value)
