"""Instance slots on real Ray with real servers: disjoint CPU sets read back from /proc; bounds follow the slot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray

from raytune.hardware import Hardware
from raytune.slots import SlotShape, process_tree
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, knob_space_for
from raytune.tune._pool import InstanceActor, InstanceSpec
from tests.overlap import max_overlap

GB = 1024**3


def _allowed(pid: int) -> str | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None  # a short-lived worker that ended meanwhile
    return status.split("Cpus_allowed_list:")[1].split()[0]


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs for two slots")
def test_two_slots_run_their_servers_on_disjoint_cpu_sets() -> None:
    shape = SlotShape(cpus=1, memory_bytes=2 * GB)
    spec = InstanceSpec(
        "postgres",
        WorkloadSpec("tpch", 0.01),
        MeasureSettings(repeats=1, timeout_s=20, plans=False),
        shape,
        "slots",
    )
    actors = [InstanceActor.remote(spec, i) for i in range(2)]
    try:
        records = ray.get([a.run.remote({}, f"slot-test-{i}") for i, a in enumerate(actors)])
        pids = ray.get([a.server_pid.remote() for a in actors])
        seen = []
        for record, pid in zip(records, pids, strict=True):
            assert record["status"] == "SUCCEEDED", record["error"]
            assert pid is not None
            procs = process_tree(pid)
            assert len(procs) > 3  # the postmaster and its background processes
            allowed = {_allowed(p) for p in procs} - {None}
            assert allowed == {",".join(map(str, record["slot"]["cpu_set"]))}  # every server process, pinned
            assert record["slot"]["shape"] == "1 CPU, 2.0 GB" and record["hardware"]["cores"] == 1
            seen.append(allowed)
        indices = [record["slot"]["index"] for record in records]
        if indices[0] == indices[1]:  # slots are leased machine-wide: another search here held the other one
            assert max_overlap(records) == 1  # so the two trials took turns on this one
            pytest.skip("another search on this machine held a slot, so both trials ran on the same one")
        assert seen[0].isdisjoint(seen[1])
    finally:
        ray.get([a.close.remote() for a in actors])
        for a in actors:
            ray.kill(a)


def test_knob_bounds_follow_the_slot_shape(tmp_path: Path) -> None:
    node = Hardware(cores=2, ram_bytes=16 * GB)

    def upper(instances: int, **kw: object) -> float:
        spec = SearchSpec(results_dir=tmp_path, instances=instances, hardware=node, **kw)  # type: ignore[arg-type]
        return knob_space_for(spec)["shared_buffers"].upper

    whole, half = upper(1), upper(2)
    assert half == pytest.approx(whole / 2, rel=0.01)  # shared_buffers <= 0.5 * the slot's RAM
    assert upper(2, slot_memory_bytes=4 * GB) == pytest.approx(whole / 4, rel=0.01)
