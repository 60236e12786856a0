"""What a finished search leaves behind: default vs rules vs best, best.json / best.conf, a convergence plot."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytune.engines import engine_class
from raytune.knobs import load_catalog


@dataclass(frozen=True)
class SearchSummary:
    """Headline numbers of a search (objective direction: ``min`` latency or ``max`` throughput)."""

    direction: str
    objective_name: str
    trials: int
    failed: int
    default: float | None
    rules: float | None
    best: float | None
    best_row: dict[str, Any] | None

    def improvement_pct(self, baseline: float | None) -> float | None:
        """How much better ``best`` is than ``baseline`` in percent (positive = better)."""
        if baseline is None or self.best is None or baseline == 0:
            return None
        if self.direction == "min":
            return 100.0 * (baseline - self.best) / baseline
        return 100.0 * (self.best - baseline) / baseline


def summarize(rows: list[dict[str, Any]]) -> SearchSummary:
    """Summary over the rows of a trial store."""
    ok = [r for r in rows if r["status"] == "SUCCEEDED" and r["objective"] is not None]
    direction = rows[0]["direction"] if rows else "min"
    name = next((r["objective_name"] for r in rows if r["objective_name"]), "objective")
    pick = min if direction == "min" else max
    best_row = pick(ok, key=lambda r: r["objective"]) if ok else None

    def baseline(label: str) -> float | None:
        values = [r["objective"] for r in ok if r["baseline"] == label]
        return values[0] if values else None

    return SearchSummary(
        direction=direction,
        objective_name=name,
        trials=len(rows),
        failed=sum(r["status"] != "SUCCEEDED" for r in rows),
        default=baseline("default"),
        rules=baseline("rules"),
        best=best_row["objective"] if best_row else None,
        best_row=best_row,
    )


def write_best(results_dir: Path, summary: SearchSummary, engine: str) -> tuple[Path, Path] | None:
    """Writes ``best.json`` and ``best.conf`` (ready-to-apply) for the best trial; None if no trial succeeded."""
    row = summary.best_row
    if row is None:
        return None
    catalog = load_catalog(engine)
    values = catalog.validate(row["config"], allow_denied=True)
    cls = engine_class(engine)
    conf_text = cls.config_file_text(values, catalog)
    if not values:
        conf_text += "# nothing to change: the server defaults measured best\n"
    doc = {
        "engine": engine,
        "engine_version": row["engine_version"],
        "workload": row["workload"],
        "trial_id": row["trial_id"],
        summary.objective_name: row["objective"],
        "direction": summary.direction,
        "default": summary.default,
        "rules": summary.rules,
        "improvement_over_default_pct": summary.improvement_pct(summary.default),
        "improvement_over_rules_pct": summary.improvement_pct(summary.rules),
        "config": row["config"],
        "applied": row["applied"],
        "sql": cls.config_sql(values, catalog),
        "config_file": conf_text.splitlines(),
    }
    best_json = results_dir / "best.json"
    best_conf = results_dir / "best.conf"
    best_json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    best_conf.write_text(conf_text)
    return best_json, best_conf


def plot_convergence(rows: list[dict[str, Any]], summary: SearchSummary, path: Path, title: str) -> Path:
    """Best-so-far objective vs trial number (failed trials marked), baselines as lines; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    pick = min if summary.direction == "min" else max
    best: float | None = None
    xs, ys, okx, oky, failx = [], [], [], [], []
    for i, row in enumerate(rows, start=1):
        value = row["objective"]
        if row["status"] == "SUCCEEDED" and value is not None:
            best = value if best is None else pick(best, value)
            okx.append(i)
            oky.append(value)
        else:
            failx.append(i)
        if best is not None:
            xs.append(i)
            ys.append(best)
    ax.step(xs, ys, where="post", color="tab:blue", label="best so far")
    ax.scatter(okx, oky, s=14, color="tab:blue", alpha=0.45, label="trial")
    if failx and oky:
        ax.scatter(
            failx,
            [max(oky) if summary.direction == "min" else min(oky)] * len(failx),
            marker="x",
            color="tab:red",
            label="failed",
        )
    for value, label, color in (
        (summary.default, "default", "tab:gray"),
        (summary.rules, "rules", "tab:orange"),
    ):
        if value is not None and math.isfinite(value):
            ax.axhline(value, linestyle="--", color=color, label=label)
    ax.set_xlabel("trial")
    ax.set_ylabel(summary.objective_name)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def format_summary(summary: SearchSummary) -> list[str]:
    """Lines for the terminal: default vs rules vs best, with the improvement in %."""
    unit = "s" if summary.direction == "min" else " tps"

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}{unit}"

    def pct(value: float | None) -> str:
        return (
            "" if value is None else f" ({value:+.1f}% better)" if value >= 0 else f" ({-value:.1f}% worse)"
        )

    better = "lower" if summary.direction == "min" else "higher"
    return [
        f"{summary.objective_name} ({better} is better) over {summary.trials} trials, {summary.failed} failed:",
        f"  default  {fmt(summary.default)}",
        f"  rules    {fmt(summary.rules)}",
        f"  best     {fmt(summary.best)}  vs default{pct(summary.improvement_pct(summary.default)) or ' -'}"
        f", vs rules{pct(summary.improvement_pct(summary.rules)) or ' -'}",
    ]
