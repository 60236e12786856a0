"""The LakeHelm data layout: latencies per (engine, lake, config, query), plans, column statistics.

A data root holds ``latency/<benchmark>/sf<N>/*.csv``, ``plans/`` and optionally ``stats/``; see
:func:`load_dataset`. Nothing here knows about models: :mod:`trainables.lakehelm._evaluate` scores any
chooser (a function from a query to an (engine, lake, config) choice) with the per-query ratio protocol.
"""

from trainables.lakehelm._configs import ConfigVectorizer, parse_config
from trainables.lakehelm._dataset import (
    Combo,
    DatasetError,
    LatencyDataset,
    available,
    canonical_benchmark,
    load_dataset,
    normalise_query_name,
)
from trainables.lakehelm._evaluate import (
    Choice,
    Split,
    baselines,
    describe_choice,
    evaluate_chooser,
    sample_workloads,
    split_queries,
)
from trainables.lakehelm._plans import PlanNode, find_plan_file, parse_spark_plan
from trainables.lakehelm._stats import TableStats, load_stats

__all__ = [
    "Choice",
    "Combo",
    "ConfigVectorizer",
    "DatasetError",
    "LatencyDataset",
    "PlanNode",
    "Split",
    "TableStats",
    "available",
    "baselines",
    "canonical_benchmark",
    "describe_choice",
    "evaluate_chooser",
    "find_plan_file",
    "load_dataset",
    "load_stats",
    "normalise_query_name",
    "parse_config",
    "parse_spark_plan",
    "sample_workloads",
    "split_queries",
]
