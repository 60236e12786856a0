"""Which knobs matter: functional ANOVA (fANOVA) or PED-ANOVA, both optuna's, over measured trials.

The trials of a search (one workload) or of a corpus (many workloads, one domain) become an optuna study over
the tunable space of that domain: each SUCCEEDED trial is a point (its configuration, projected into the space)
with its cost relative to its workload's default (median of the default's runs), so workloads of different
sizes share one scale. A ranking is saved as JSON (``{"engine", "evaluator", "trials", "importance": {knob:
share}}``) and read back by ``--knobs top:K[:FILE]`` of a search.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError
from raytune.knobs import KnobSpace
from raytune.optimizers import ParamKind, ParamSpec, encode, param_specs

EVALUATORS = ("fanova", "ped-anova")
MIN_TRIALS = 8
RANKINGS = Path(__file__).resolve().parent.parent / "knobs" / "data"


@dataclass(frozen=True)
class KnobRanking:
    """Knob -> share of the explained variation (sums to 1), most important first."""

    engine: str
    evaluator: str
    trials: int
    importance: dict[str, float]

    def top(self, k: int) -> list[str]:
        return list(self.importance)[:k]

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "evaluator": self.evaluator,
            "trials": self.trials,
            "importance": self.importance,
        }

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> KnobRanking:
        """Raises: KnobrayError: not a ranking file."""
        try:
            doc = json.loads(Path(path).read_text())
            return cls(doc["engine"], doc["evaluator"], int(doc["trials"]), dict(doc["importance"]))
        except FileNotFoundError:
            raise KnobrayError(
                f"ranking file {path} does not exist; make one with python -m raytune.importance"
            ) from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise KnobrayError(
                f"{path} is not a knob ranking; make one with python -m raytune.importance"
            ) from None


def shipped_ranking(engine: str) -> Path:
    """The ranking shipped with knobray for ``engine`` (what ``--knobs top:K`` uses without a file)."""
    return RANKINGS / f"{engine}-importance.json"


def relative_costs(rows: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """(configuration, cost / its workload's default cost) of every successful non-default trial.

    Rows are trial-store rows (``workload`` a dict) or corpus rows (``workload_id``); the direction is taken
    from ``objective_name`` (throughput is inverted, so lower is better for every row).
    """

    def workload(r: dict[str, Any]) -> str:
        return str(r.get("workload_id") or json.dumps(r.get("workload"), sort_keys=True))

    ok = [r for r in rows if r["status"] == "SUCCEEDED" and r["objective"]]
    defaults: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        if not r["config"]:
            defaults[workload(r)].append(_cost(r))
    out = []
    for r in ok:
        base = defaults.get(workload(r))
        if r["config"] and base:
            out.append((r["config"], _cost(r) / statistics.median(base)))
    return out


def _cost(row: dict[str, Any]) -> float:
    value = float(row["objective"])
    return 1.0 / value if row.get("objective_name") == "throughput_tps" else value


def rank_knobs(
    points: Sequence[tuple[dict[str, Any], float]], space: KnobSpace, evaluator: str = "fanova", seed: int = 0
) -> KnobRanking:
    """The ranking of ``space``'s knobs over ``points`` (configuration, cost; lower is better).

    Raises:
        KnobrayError: Too few points, or an unknown evaluator.
    """
    import optuna

    if evaluator not in EVALUATORS:
        raise KnobrayError(f"unknown evaluator {evaluator!r}; use one of: {', '.join(EVALUATORS)}")
    if len(points) < MIN_TRIALS:
        raise KnobrayError(
            f"{len(points)} successful trials with a measured default; importance needs at least {MIN_TRIALS}: "
            "run a longer search or collect a corpus"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    specs = param_specs(space)
    distributions = {s.name: _distribution(s) for s in specs}
    study = optuna.create_study(direction="minimize")
    for config, cost in points:
        params = encode(space, config)
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=cost))
    if evaluator == "fanova":
        ev: Any = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    else:
        ev = optuna.importance.PedAnovaImportanceEvaluator()
    raw = optuna.importance.get_param_importances(study, evaluator=ev, normalize=True)
    ranked = dict(sorted(((k, float(v)) for k, v in raw.items()), key=lambda kv: -kv[1]))
    return KnobRanking(space.engine, evaluator, len(points), ranked)


def _distribution(spec: ParamSpec) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if spec.kind is ParamKind.CHOICE:
        return CategoricalDistribution(list(spec.choices))
    if spec.kind is ParamKind.INT:
        return IntDistribution(int(spec.lower), int(spec.upper), log=spec.log)
    return FloatDistribution(spec.lower, spec.upper, log=spec.log and spec.lower > 0)


def top_knobs(selector: str, engine: str) -> list[str]:
    """The knobs of ``top:K`` (the shipped ranking) or ``top:K:FILE``.

    Raises:
        KnobrayError: A malformed selector, or a ranking of another engine.
    """
    parts = selector.split(":", 2)
    if parts[0] != "top" or len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) < 1:
        raise KnobrayError(f"--knobs {selector!r}: write top:K or top:K:RANKING_FILE with K >= 1")
    path = Path(parts[2]) if len(parts) == 3 else shipped_ranking(engine)
    if len(parts) == 2 and not path.is_file():
        raise KnobrayError(f"knobray ships no knob ranking for {engine}; pass top:K:FILE")
    ranking = KnobRanking.load(path)
    if ranking.engine != engine:
        raise KnobrayError(
            f"ranking {path} is for {ranking.engine}, not {engine}; rank {engine} trials first"
        )
    return ranking.top(int(parts[1]))
