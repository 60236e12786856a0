"""What a finished search leaves behind: default vs rules vs best, best.json / best.conf, a convergence plot."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytune.confirmation import Confirmation, ConfirmedConfig, analyse, search_rows
from raytune.engines import engine_class
from raytune.knobs import load_catalog
from raytune.records import Direction, Objective


@dataclass(frozen=True)
class SearchSummary:
    """Headline numbers of a search: in-search values of default, rules and best, and the confirmation.

    ``crowned`` is what the search recommends: the config with the best confirmed median when the search was
    confirmed, else the in-search best.
    """

    objective: Objective
    trials: int
    failed: int
    statuses: dict[str, int]
    default: float | None
    rules: float | None
    best: float | None
    best_row: dict[str, Any] | None
    confirmation: Confirmation | None
    slot: dict[str, Any]
    crowned_row: dict[str, Any] | None = None  # the search trial whose config is crowned

    @property
    def direction(self) -> str:
        return self.objective.mode

    @property
    def objective_name(self) -> str:
        return self.objective.name

    def improvement_pct(self, baseline: float | None) -> float | None:
        """How much better the in-search best is than ``baseline`` in percent (positive = better)."""
        return self.objective.improvement_pct(self.best, baseline)

    @property
    def crowned(self) -> ConfirmedConfig | None:
        return self.confirmation.crowned if self.confirmation else None

    @property
    def significant(self) -> bool | None:
        """Whether the crowned config's gain over the default was confirmed; None without confirmation."""
        return None if self.confirmation is None else self.confirmation.significant

    @property
    def crowned_config(self) -> dict[str, Any] | None:
        if self.crowned is not None:
            return self.crowned.config
        return self.best_row["config"] if self.best_row else None


def summarize(rows: list[dict[str, Any]], objective: Objective | None = None) -> SearchSummary:
    """Summary over the rows of a trial store (the objective is read from them unless given)."""
    searched = search_rows(rows)
    if objective is None:
        direction = Direction(rows[0]["direction"]) if rows else Direction.MINIMIZE
        name = next((r["objective_name"] for r in rows if r["objective_name"]), "objective")
        objective = Objective(name, direction)
    ok = [r for r in searched if r["status"] == "SUCCEEDED" and r["objective"] is not None]
    best_value = objective.best(r["objective"] for r in ok)
    best_row = next((r for r in ok if r["objective"] == best_value), None)

    def baseline(label: str) -> float | None:
        values = [r["objective"] for r in ok if r["baseline"] == label]
        return values[0] if values else None

    statuses = dict(Counter(r["status"] for r in searched))
    confirmation = analyse(rows, objective)
    crowned_row = best_row
    if confirmation is not None and confirmation.crowned is not None:
        label = confirmation.crowned.confirms
        crowned_row = next(
            (
                r
                for r in searched
                if r["trial_id"] == label or (label == "rules" and r["baseline"] == "rules")
            ),
            best_row,
        )
    return SearchSummary(
        objective=objective,
        trials=len(searched),
        failed=sum(r["status"] != "SUCCEEDED" for r in searched),
        statuses=statuses,
        default=baseline("default"),
        rules=baseline("rules"),
        best=best_value,
        best_row=best_row,
        confirmation=confirmation,
        slot=next((r["slot"] for r in rows if r.get("slot")), {}),
        crowned_row=crowned_row,
    )


def _shape(slot: dict[str, Any]) -> str:
    return slot.get("shape") or "the whole machine"


def _ratio_text(c: ConfirmedConfig, rounds: int) -> str:
    values = ", ".join(f"{v:.3f}" for v in c.ratio_to_default)
    failed = f", failed in {c.failed_rounds}" if c.failed_rounds else ""
    return f"{c.median_to_default:.3f}x the default (rounds: {values}; {len(c.ratio_to_default)} of {rounds}{failed})"


def _conf_header(summary: SearchSummary) -> list[str]:
    lines = [f"# tuned for {_shape(summary.slot)}: {summary.objective.name}"]
    c = summary.crowned
    if c is None and summary.confirmation is not None:
        lines.append("# not confirmed: every confirmation run failed; keep the server defaults")
    elif c is None:
        lines.append("# not confirmed: a single in-search measurement (run with --confirm K to confirm)")
    elif summary.significant:
        lines.append(f"# confirmed: {_ratio_text(c, summary.confirmation.rounds)}")  # type: ignore[union-attr]
    else:
        lines.append(
            f"# no significant gain over the default: best confirmed {_ratio_text(c, summary.confirmation.rounds)}"  # type: ignore[union-attr]
        )
        lines.append("# keep the server defaults; the settings measured are left below, commented out")
    return lines


def write_best(results_dir: Path, summary: SearchSummary, engine: str) -> tuple[Path, Path] | None:
    """Writes ``best.json`` and ``best.conf`` (ready to apply) for the crowned config; None if nothing succeeded."""
    row = summary.crowned_row
    config = summary.crowned_config
    if row is None or config is None:
        return None
    catalog = load_catalog(engine)
    values = catalog.validate(config, allow_denied=True)
    cls = engine_class(engine)
    engine_text = cls.config_file_text(values, catalog).splitlines()
    settings = engine_text[1:]
    if summary.significant is False:
        settings = [ln if ln.startswith("[") else f"# {ln}" for ln in settings]
    conf_lines = [engine_text[0], *_conf_header(summary), *settings]
    if not values:
        conf_lines.append("# nothing to change: the server defaults measured best")
    conf_text = "\n".join(conf_lines) + "\n"
    crowned = summary.crowned
    rounds = summary.confirmation.rounds if summary.confirmation else 0
    doc = {
        "engine": engine,
        "engine_version": row["engine_version"],
        "workload": row["workload"],
        "trial_id": row["trial_id"],
        summary.objective_name: row["objective"],
        "direction": summary.direction,
        "default": summary.default,
        "rules": summary.rules,
        "improvement_over_default_pct": summary.objective.improvement_pct(row["objective"], summary.default),
        "improvement_over_rules_pct": summary.objective.improvement_pct(row["objective"], summary.rules),
        "confirmed": crowned.to_dict(rounds) if crowned is not None else None,
        "recommendation": _recommendation(summary),
        "slot": summary.slot,
        "config": config,
        "applied": row["applied"],
        "sql": cls.config_sql(values, catalog),
        "config_file": conf_text.splitlines(),
    }
    best_json = results_dir / "best.json"
    best_conf = results_dir / "best.conf"
    best_json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    best_conf.write_text(conf_text)
    return best_json, best_conf


def _recommendation(summary: SearchSummary) -> str:
    if summary.significant is None:
        return "unconfirmed: apply after re-measuring it against the default"
    if summary.significant:
        return "apply: the gain over the default was confirmed"
    return "keep the defaults: no significant gain over the default"


def plot_convergence(rows: list[dict[str, Any]], summary: SearchSummary, path: Path, title: str) -> Path:
    """Best-so-far objective vs trial number (failed trials marked), baselines as lines; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    pick = min if summary.direction == "min" else max
    best: float | None = None
    xs, ys, okx, oky, failx = [], [], [], [], []
    for i, row in enumerate(search_rows(rows), start=1):
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
    """Lines for the terminal: in-search default, rules and best, then the confirmed verdict."""
    unit = summary.objective.unit

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}{unit}"

    def pct(value: float | None) -> str:
        return (
            "" if value is None else f" ({value:+.1f}% better)" if value >= 0 else f" ({-value:.1f}% worse)"
        )

    better = "lower" if summary.direction == "min" else "higher"
    failed = ", ".join(f"{n} {s.lower()}" for s, n in sorted(summary.statuses.items()) if s != "SUCCEEDED")
    lines = [
        f"{summary.objective_name} ({better} is better), slot {_shape(summary.slot)}, "
        f"{summary.trials} trials ({failed or '0 failed'}):",
        "in search (single runs):",
        f"  default  {fmt(summary.default)}",
        f"  rules    {fmt(summary.rules)}",
        f"  best     {fmt(summary.best)}  vs default{pct(summary.improvement_pct(summary.default)) or ' -'}"
        f", vs rules{pct(summary.improvement_pct(summary.rules)) or ' -'}",
    ]
    conf = summary.confirmation
    if conf is None:
        lines.append(
            "not confirmed (no confirmation runs recorded): in-search numbers are single, noisy runs"
        )
        return lines
    lines.append(
        f"confirmed ({conf.rounds} rounds, each config re-measured alone, interleaved with the default):"
    )
    for c in conf.configs:
        name = "rules" if c.confirms == "rules" else f"trial {c.confirms}"
        to_rules = f", {c.median_to_rules:.3f}x rules" if c.median_to_rules is not None else ""
        mark = " *" if c is conf.crowned else ""
        lines.append(
            f"  {name:<18} {c.median_to_default:.3f}x default "
            f"[{', '.join(f'{v:.3f}' for v in c.ratio_to_default)}]{to_rules}"
            f"{'' if c.significant else ' (within noise)'}{mark}"
        )
    c = conf.crowned
    if c is None:
        lines.append("verdict: no configuration could be confirmed (its runs failed)")
    elif c.significant:
        gain = summary.objective.gain(c.median_to_default or 1.0)
        medians = f"{fmt(statistics.median(c.values))} vs {fmt(statistics.median(conf.default_values))}"
        lines.append(
            f"verdict: {100 * gain:.1f}% better than the default ({medians}, medians), confirmed (* = crowned)"
        )
    else:
        lines.append("verdict: no significant gain over the default; keep the server defaults")
    return lines
