"""Knob importance over measured trials (optuna's fANOVA or PED-ANOVA) and ``--knobs top:K`` selections."""

from __future__ import annotations

from raytune.importance._rank import (
    EVALUATORS,
    KnobRanking,
    rank_knobs,
    relative_costs,
    shipped_ranking,
    top_knobs,
)

__all__ = ["EVALUATORS", "KnobRanking", "rank_knobs", "relative_costs", "shipped_ranking", "top_knobs"]
