"""A search on a real two-node Ray cluster on one machine: instances live only where db_slots are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from raytune.errors import EngineError
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, check_slots, run_search
from tests.overlap import max_overlap

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    ray.init(address=cluster.address, namespace="knobray", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_refuses_to_start_without_db_slots(cluster: Cluster) -> None:
    with pytest.raises(EngineError, match="0 'db_slot' resources"):
        check_slots("postgres")


def test_trials_run_only_on_the_worker_and_never_more_than_its_slots(
    cluster: Cluster, tmp_path: Path
) -> None:
    worker = cluster.add_node(num_cpus=2, resources={"db_slot": 2})
    cluster.wait_for_nodes()
    spec = SearchSpec(
        results_dir=tmp_path / "two-node",
        workload=WorkloadSpec("tpch", 0.01),
        optimizer="random",
        trials=6,
        instances=2,
        address=cluster.address,
        confirm=0,
        settings=MeasureSettings(repeats=3, timeout_s=20, plans=False),
    )
    rows = run_search(spec).rows()
    assert len(rows) == 6 and all(r["status"] == "SUCCEEDED" for r in rows), [r["error"] for r in rows]
    assert {r["instance"]["node_id"] for r in rows} == {worker.node_id}
    assert {r["instance"]["index"] for r in rows} <= {0, 1}
    assert max_overlap(rows) <= 2
