"""A workload as the cost model sees it, measured the way the corpus was: its SQL's features, and the plans and
internal metrics of one run under the default configuration on a real server of the slot's shape."""

from __future__ import annotations

from typing import Any

from raytune.corpus import compact_plans, workload_features
from raytune.slots import SlotShape
from trainables.dann._features import WorkloadInput


def describe_workload(engine: str, workload: Any, shape: SlotShape, *, explain: bool = True) -> WorkloadInput:
    """The model's view of ``workload`` (a ``raytune.workloads`` OLAP workload) on ``engine`` in ``shape``.

    With ``explain`` the workload runs once under the default configuration (golden data, embedded server):
    that gives the plans and metrics the model reads. Without it the model predicts from the SQL alone.

    Raises:
        KnobrayError: The workload cannot run (bad queries, a server that does not start).
    """
    from raytune.engines import dialect_of
    from raytune.trial import MeasureSettings, TrialRunner

    queries = workload.queries_for(dialect_of(engine))
    features = workload_features(queries).to_dict()
    name = str(workload.describe().get("queries_file") or workload.describe().get("data"))
    if not explain:
        return WorkloadInput(engine, shape.cpus, shape.memory_bytes, features, {}, {}, name)
    settings = MeasureSettings(repeats=1, timeout_s=60, plans=True)
    with TrialRunner(engine, workload, settings=settings, hardware=shape.hardware()) as runner:
        record = runner.run({})
    run_s = float(record.timings.get("run_s") or 0.0)
    metrics = {k: v / run_s for k, v in record.metrics.items() if run_s > 0}
    latency = float(record.summary.get("mean_latency_s") or 0.0) if record.status.name == "SUCCEEDED" else 0.0
    return WorkloadInput(
        engine,
        shape.cpus,
        shape.memory_bytes,
        features,
        compact_plans(record.plans),
        metrics,
        name,
        latency,
        run_s,
    )
