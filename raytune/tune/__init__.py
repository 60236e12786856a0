"""Thin Ray adapters: the instance pool (actors), the trainable, searchers and the search driver.

This is the only package that imports Ray Tune.
"""

from __future__ import annotations

from raytune.tune._pool import DB_SLOT, InstancePool, InstanceSpec, WorkloadSpec, check_slots, pool_name
from raytune.tune._run import (
    SearchSpec,
    check_results_dir,
    connect_ray,
    knob_space_for,
    measure_given,
    run_search,
    slot_shape_for,
)

__all__ = [
    "DB_SLOT",
    "InstancePool",
    "InstanceSpec",
    "SearchSpec",
    "WorkloadSpec",
    "check_results_dir",
    "check_slots",
    "connect_ray",
    "knob_space_for",
    "measure_given",
    "pool_name",
    "run_search",
    "slot_shape_for",
]
