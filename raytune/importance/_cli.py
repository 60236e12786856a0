"""Command line of ``python -m raytune.importance``: rank the knobs of a search's or a corpus's trials."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m raytune.importance", description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="a search's results directory or a corpus directory")
    p.add_argument(
        "--evaluator",
        default="fanova",
        help="fanova (default) or ped-anova over the trials (optuna's), or shap over a cost model (--model)",
    )
    p.add_argument("--model", type=Path, help="shap: a cost model directory (default: the one shipped)")
    p.add_argument(
        "--workloads", type=int, default=5, help="shap on a corpus: workloads averaged (default 5)"
    )
    p.add_argument("--domain", help="corpus: the domain to rank (default: the one with the most trials)")
    p.add_argument("--top", type=int, default=15, help="rows of the printed table (default 15)")
    p.add_argument("--out", type=Path, help="ranking JSON (default SOURCE/importance.json)")
    p.add_argument("--plot", type=Path, help="bar chart PNG (default SOURCE/importance.png)")
    p.add_argument("--seed", type=int, default=0)
    return p


def load_source(source: Path, domain: str | None) -> tuple[list[dict[str, Any]], str, Any]:
    """(rows, engine, slot shape) of a results directory or of one domain of a corpus.

    Raises:
        KnobrayError: Nothing to rank, several engines, an unknown domain.
    """
    from raytune.backends import recorded_shape
    from raytune.corpus import Corpus
    from raytune.slots import SlotShape
    from raytune.storage import TrialStore

    corpus = Corpus(source)
    if corpus.exists():
        rows = corpus.measurements()
        domains = Counter(r["domain"] for r in rows)
        if not domains:
            raise KnobrayError(f"corpus {source} holds no measurements; collect or add some first")
        chosen = domain or domains.most_common(1)[0][0]
        if chosen not in domains:
            raise KnobrayError(
                f"corpus {source} has no domain {chosen}; it has: {', '.join(sorted(domains))}"
            )
        rows = [r for r in rows if r["domain"] == chosen]
        return rows, rows[0]["engine"], SlotShape(rows[0]["slot_cpus"], rows[0]["slot_memory_bytes"])
    rows = TrialStore(source).rows()
    if not rows:
        raise KnobrayError(f"{source} holds no trial records or corpus; pass a search's results or a corpus")
    engines = sorted({r["engine"] for r in rows})
    if len(engines) > 1:
        raise KnobrayError(f"{source} holds trials of {', '.join(engines)}; rank one engine at a time")
    return rows, engines[0], recorded_shape(rows)


def plot_ranking(ranking: Any, path: Path, top: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ranking.top(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.2), dpi=110)
    ax.barh(names, [ranking.importance[n] for n in names], color="#4477aa")
    ax.set_xlabel(f"share of explained variation ({ranking.evaluator}, {ranking.trials} trials)")
    ax.set_title(f"{ranking.engine}: knob importance")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _shap(args: argparse.Namespace, rows: list[dict[str, Any]], space: Any) -> Any:
    """SHAP over the cost model, on workloads of a corpus domain."""
    from raytune.corpus import Corpus
    from raytune.importance._shap import shap_ranking
    from trainables.dann import CostModel, workload_inputs

    corpus = Corpus(args.source)
    if not corpus.exists():
        raise KnobrayError("--evaluator shap needs a corpus (its workloads are what the model explains)")
    domain = rows[0]["domain"]
    inputs = [w for (_, d), w in sorted(workload_inputs(corpus).items()) if d == domain][: args.workloads]
    if not inputs:
        raise KnobrayError(f"corpus {args.source} has no workload of domain {domain} to explain")
    model = CostModel.load(args.model)
    return shap_ranking(model, inputs, space, seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from raytune.importance._rank import rank_knobs, relative_costs
    from raytune.knobs import load_catalog, tunable_space

    try:
        rows, engine, shape = load_source(args.source, args.domain)
        space = tunable_space(engine, load_catalog(engine), shape.hardware())
        if args.evaluator == "shap":
            ranking = _shap(args, rows, space)
        else:
            ranking = rank_knobs(relative_costs(rows), space, args.evaluator, seed=args.seed)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = ranking.save(args.out or args.source / "importance.json")
    plot = plot_ranking(ranking, args.plot or args.source / "importance.png", args.top)
    print(
        f"{engine} knob importance ({ranking.evaluator} over {ranking.trials} trials, slot {shape.describe()}):"
    )
    for i, (name, share) in enumerate(list(ranking.importance.items())[: args.top], start=1):
        print(f"  {i:2d}. {name:<32} {100 * share:5.1f}%  {'#' * round(40 * share)}")
    print(f"ranking: {out}  plot: {plot}")
    print(f"tune only the top 8 with: python -m raytune.search --knobs top:8:{out}")
    return 0
