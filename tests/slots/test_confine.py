"""Confining real processes to slots: the kernel's view of their CPUs and cgroups."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs for two slots")

CHILD = """
import json, subprocess, sys
from raytune.slots import SlotShape, confine_process, slot_on_this_node
slot = slot_on_this_node(int(sys.argv[1]), SlotShape(cpus=1, memory_bytes=512 * 1024**2))
c = confine_process(slot, "test-" + sys.argv[2])
child = subprocess.Popen(["sleep", "0.5"])
status = open(f"/proc/{child.pid}/status").read()
allowed = status.split("Cpus_allowed_list:")[1].split()[0]
cgroups = open(f"/proc/{child.pid}/cgroup").read()
child.wait()
print(json.dumps({"confinement": c.to_dict(), "allowed": allowed, "cgroups": cgroups, "groups": list(c.groups)}))
"""


def _confined_child(index: int, name: str) -> dict:
    import json

    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(index), name],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path.cwd(),
    )
    return json.loads(out.stdout)


def test_two_slots_run_their_processes_on_disjoint_cpus() -> None:
    tag = f"{os.getpid()}"
    first, second = _confined_child(0, f"{tag}-a"), _confined_child(1, f"{tag}-b")
    assert first["allowed"] != second["allowed"]  # read back from /proc of a process each slot started
    assert {int(first["allowed"]), int(second["allowed"])} == set(sorted(os.sched_getaffinity(0))[:2])
    for got in (first, second):
        enforced = got["confinement"]
        assert enforced["cpu"] in ("cgroup v1", "cgroup v2", "affinity")
        if enforced["memory"].startswith("cgroup"):
            assert any("knobray/test-" in line for line in got["cgroups"].splitlines())
        else:
            assert enforced["memory"].startswith("not enforced")  # said, not hidden


def test_groups_of_dead_owners_are_swept() -> None:
    from raytune.slots import sweep_empty_groups

    got = _confined_child(0, f"{os.getpid()}-sweep")
    sweep_empty_groups(min_age_s=0)
    assert not any(Path(g).exists() for g in got["groups"])


MOVER = """
import json, os, sys
from raytune.slots import SlotShape, confine_tree, slot_on_this_node
shape = SlotShape(cpus=1, memory_bytes=512 * 1024**2)
cpus = tuple(sorted(os.sched_getaffinity(0)))
seen = []
for index in (0, 1, 0):  # one trial after another in different slots, as a leased instance does
    confine_tree(slot_on_this_node(index, shape, cpus), "test-move-" + sys.argv[1] + str(index))
    seen.append(sorted(os.sched_getaffinity(0)))
print(json.dumps(seen))
"""


def test_a_process_moves_from_slot_to_slot() -> None:
    import json

    out = subprocess.run(
        [sys.executable, "-c", MOVER, str(os.getpid())],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path.cwd(),
    )
    first, second = sorted(os.sched_getaffinity(0))[:2]
    assert json.loads(out.stdout) == [[first], [second], [first]]


def test_concurrent_sweeps_never_fail_on_groups_another_removed() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from raytune.slots import sweep_empty_groups

    for i in range(4):
        _confined_child(i % 2, f"{os.getpid()}-race{i}")  # four empty groups once each child exited
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: sweep_empty_groups(min_age_s=0), range(4)))
    assert all(isinstance(n, int) for n in results)  # none raised on a group another sweep removed
