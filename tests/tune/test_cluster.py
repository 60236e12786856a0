"""A search on a real two-node Ray cluster on one machine: instances live only where db_slots are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from raytune.errors import EngineError
from raytune.storage import TrialStore
from raytune.tune import check_slots
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


def _overlapping_pairs(a: list[dict], b: list[dict]) -> list[tuple[dict, dict]]:
    def span(r: dict) -> tuple[float, float]:
        return r["started_at"], r["started_at"] + r["timings"]["total_s"]

    return [(x, y) for x in a for y in b if span(x)[0] < span(y)[1] and span(y)[0] < span(x)[1]]


def test_two_concurrent_searches_keep_separate_pools_and_never_share_a_slot(
    cluster: Cluster, tmp_path: Path
) -> None:
    import subprocess
    import sys

    worker = cluster.add_node(num_cpus=2, resources={"db_slot": 2})  # the head node has no db_slot
    cluster.wait_for_nodes()
    root = Path(__file__).resolve().parents[2]
    # Trials long enough (about 6 s each) that the two searches, started together, overlap.
    args = ["--sf", "0.01", "--repeats", "25", "--timeout", "20", "--trials", "3", "--optimizer", "random"]
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "raytune.search", *args, "--confirm", "0", "--address", cluster.address,
             "--results", str(tmp_path / name)],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("a", "b")
    }  # fmt: skip
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"search {name}: {err[-2000:]}"
    rows = {name: TrialStore(tmp_path / name).rows() for name in procs}
    for got in rows.values():
        assert len(got) == 3 and all(r["status"] == "SUCCEEDED" for r in got), [r["error"] for r in got]
        assert {r["instance"]["node_id"] for r in got} == {worker.node_id}  # instances only where slots are
        assert {r["instance"]["index"] for r in got} <= {0, 1}
    # At most 2 trials ran at once across both searches, and two at once never shared a slot's CPUs.
    assert max_overlap(rows["a"] + rows["b"]) <= 2
    pairs = _overlapping_pairs(rows["a"], rows["b"])
    if not pairs:  # both completed with their own pools; whether their trials overlapped depends on start-up
        pytest.skip("the two searches' trials did not overlap in time, so slot sharing could not be checked")
    for x, y in pairs:
        assert set(x["slot"]["cpu_set"]).isdisjoint(y["slot"]["cpu_set"])
