"""Measurement: running workloads against an instance and turning them into numbers."""

from __future__ import annotations

from raytune.measurement._metrics import delta, snapshot
from raytune.measurement._olap import OlapResult, QueryFailedError, QueryTiming, collect_plans, run_olap
from raytune.measurement._oltp import ClientFailedError, ClientTimeoutError, OltpResult, run_oltp
from raytune.measurement._stats import numeric_delta, percentile
from raytune.measurement._steady import SteadyState, detect_steady_state, is_stable

__all__ = [
    "ClientFailedError",
    "ClientTimeoutError",
    "OlapResult",
    "OltpResult",
    "QueryFailedError",
    "QueryTiming",
    "SteadyState",
    "collect_plans",
    "delta",
    "detect_steady_state",
    "is_stable",
    "numeric_delta",
    "percentile",
    "run_olap",
    "run_oltp",
    "snapshot",
]
