"""The training corpus: real measurements of many workloads under many configurations, per domain.

- ``Corpus``: the versioned Parquet dataset on disk (measurements and workloads);
- ``collect``: measuring workloads under sampled configurations on the real pool;
- ``collect_dbperf``: Berkeley DB's db_perf training runs for the influence diagram (no SQL: not in the corpus);
- ``add_results``: appending any search's trial records;
- ``workload_features`` and ``compact_plan``: the workload description E2ETune's models read.
"""

from __future__ import annotations

from raytune.corpus._add import add_results, domain_of, measurement_row, workload_id
from raytune.corpus._card import domain_counts, render_card, write_card
from raytune.corpus._collect import CollectPlan, collect, latin_hypercube, missing, perturbations
from raytune.corpus._collect_dbperf import DbperfPlan, collect_dbperf
from raytune.corpus._features import WorkloadFeatures, workload_features
from raytune.corpus._plans import compact_plan, compact_plans
from raytune.corpus._store import MEASUREMENT_SCHEMA, SCHEMA_VERSION, WORKLOAD_SCHEMA, Corpus

__all__ = [
    "MEASUREMENT_SCHEMA",
    "SCHEMA_VERSION",
    "WORKLOAD_SCHEMA",
    "CollectPlan",
    "Corpus",
    "DbperfPlan",
    "WorkloadFeatures",
    "add_results",
    "collect",
    "collect_dbperf",
    "compact_plan",
    "compact_plans",
    "domain_counts",
    "domain_of",
    "latin_hypercube",
    "measurement_row",
    "missing",
    "perturbations",
    "render_card",
    "workload_features",
    "workload_id",
    "write_card",
]
