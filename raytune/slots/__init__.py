"""Instance slots: a declared resource shape per database instance, and its enforcement on the node."""

from __future__ import annotations

from raytune.slots._confine import (
    Confinement,
    confine_process,
    confine_tree,
    cpus_allowed,
    pin_process,
    process_tree,
    sweep_empty_groups,
)
from raytune.slots._lease import lease_slot
from raytune.slots._shape import Slot, SlotShape, parse_memory, resolve_shape, slot_on_this_node

__all__ = [
    "Confinement",
    "Slot",
    "SlotShape",
    "confine_process",
    "confine_tree",
    "lease_slot",
    "process_tree",
    "cpus_allowed",
    "parse_memory",
    "pin_process",
    "resolve_shape",
    "slot_on_this_node",
    "sweep_empty_groups",
]
