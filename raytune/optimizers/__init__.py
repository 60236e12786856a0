"""Optimizer-independent search pieces: rule-based baselines and the knob-space <-> parameter encoding."""

from __future__ import annotations

from raytune.optimizers._encoding import (
    ParamKind,
    ParamSpec,
    decode,
    encode,
    from_unit_position,
    param_specs,
    unit_position,
)
from raytune.optimizers._rules import WORKLOAD_TYPES, mariadb_rule_config, pgtune_config, rule_config

OPTIMIZERS = ("hebo", "smac", "tpe", "random", "configs")

__all__ = [
    "OPTIMIZERS",
    "WORKLOAD_TYPES",
    "ParamKind",
    "ParamSpec",
    "decode",
    "encode",
    "from_unit_position",
    "mariadb_rule_config",
    "param_specs",
    "pgtune_config",
    "rule_config",
    "unit_position",
]
