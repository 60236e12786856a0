"""Slot shapes and their CPU sets (pure logic)."""

from __future__ import annotations

import pytest

from raytune.errors import KnobrayError
from raytune.hardware import Hardware
from raytune.optimizers import pgtune_config
from raytune.slots import SlotShape, parse_memory, resolve_shape, slot_on_this_node

GB = 1024**3
NODE = Hardware(cores=8, ram_bytes=64 * GB, ssd=True)


def test_default_shape_divides_the_node_evenly() -> None:
    shape = resolve_shape(NODE, 4)
    assert shape == SlotShape(cpus=2, memory_bytes=16 * GB, ssd=True)
    assert shape.describe() == "2 CPUs, 16.0 GB"
    assert SlotShape(1, int(11.7 * GB)).describe() == "1 CPU, 11.7 GB"


def test_given_shape_is_checked_against_the_node() -> None:
    assert resolve_shape(NODE, 2, cpus=3, memory_bytes=8 * GB).cpus == 3
    with pytest.raises(
        KnobrayError, match="need 9 CPUs but this node has 8; lower --instances or --slot-cpus"
    ):
        resolve_shape(NODE, 3, cpus=3)
    with pytest.raises(KnobrayError, match="need 10 CPUs"):
        resolve_shape(Hardware(cores=8, ram_bytes=64 * GB), 10)  # more slots than cores
    with pytest.raises(KnobrayError, match="--slot-memory"):
        resolve_shape(NODE, 2, memory_bytes=40 * GB)
    with pytest.raises(KnobrayError, match="at least 1 CPU"):
        SlotShape(0, GB)


def test_slots_get_disjoint_cpu_sets() -> None:
    shape = SlotShape(cpus=2, memory_bytes=GB)
    available = (0, 1, 2, 3, 4, 5, 6, 7)
    sets = [set(slot_on_this_node(i, shape, available).cpu_set) for i in range(4)]
    assert all(len(s) == 2 for s in sets) and len(set().union(*sets)) == 8
    with pytest.raises(KnobrayError, match="does not fit"):
        slot_on_this_node(4, shape, available)


def test_knob_bounds_and_rules_follow_the_slot_not_the_node() -> None:
    slot_hw = resolve_shape(NODE, 4).hardware()
    assert slot_hw.cores == 2 and slot_hw.ram_bytes == 16 * GB
    assert pgtune_config(slot_hw)["shared_buffers"] == "4096MB"  # a quarter of the slot, not of the node
    assert pgtune_config(NODE)["shared_buffers"] == "16384MB"


def test_parse_memory() -> None:
    assert parse_memory("8GB") == 8 * GB and parse_memory("512MB") == 512 * 1024**2
    with pytest.raises(KnobrayError, match="is not a size"):
        parse_memory("lots")
