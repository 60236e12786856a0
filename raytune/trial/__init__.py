"""One trial end to end (``python -m raytune.trial``): golden data, config application, measurement, record."""

from __future__ import annotations

from raytune.home import ensure_home
from raytune.records import OBJECTIVES
from raytune.trial._args import (
    add_measure_arguments,
    add_workload_arguments,
    configure_logging,
    settings_from_args,
    workload_from_args,
)
from raytune.trial._golden import GoldenStore
from raytune.trial._runner import (
    MeasureSettings,
    TrialRunner,
    failure_status,
    objective_for,
    validate_config,
)

__all__ = [
    "add_measure_arguments",
    "configure_logging",
    "add_workload_arguments",
    "settings_from_args",
    "workload_from_args",
    "OBJECTIVES",
    "objective_for",
    "failure_status",
    "GoldenStore",
    "MeasureSettings",
    "TrialRunner",
    "ensure_home",
    "validate_config",
]
