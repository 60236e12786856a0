"""Slot shapes: the CPU count and memory one database instance (with its trial's client) may use.

A node hosting N instances is cut into N slots. Each slot gets its own disjoint CPU set and a memory size;
knob bounds and the rule-based configurations are computed from the slot's shape, never from the whole node,
so a configuration found for a slot is a configuration for a server of that shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from raytune.errors import KnobrayError
from raytune.hardware import Hardware
from raytune.knobs import parse_quantity

GIB = 1024**3


@dataclass(frozen=True)
class SlotShape:
    """What one instance and its client may use.

    Attributes:
        cpus: Logical CPUs of the slot.
        memory_bytes: Memory of the slot in bytes.
        ssd: Whether the node's data disk is non-rotational (for the I/O rules).
    """

    cpus: int
    memory_bytes: int
    ssd: bool = True

    def __post_init__(self) -> None:
        if self.cpus < 1:
            raise KnobrayError(f"a slot needs at least 1 CPU, got {self.cpus}; raise --slot-cpus")
        if self.memory_bytes < 256 * 1024 * 1024:
            raise KnobrayError(
                f"a slot needs at least 256MB of memory, got {self.memory_bytes} bytes; raise --slot-memory"
            )

    def hardware(self) -> Hardware:
        """The hardware a server in this slot sees: knob bounds and rule configs are relative to it."""
        return Hardware(cores=self.cpus, ram_bytes=self.memory_bytes, ssd=self.ssd)

    def describe(self) -> str:
        """``1 CPU, 11.7 GB`` (GB = 2**30 bytes)."""
        unit = "CPU" if self.cpus == 1 else "CPUs"
        return f"{self.cpus} {unit}, {self.memory_bytes / GIB:.1f} GB"

    def to_dict(self) -> dict[str, object]:
        return {"cpus": self.cpus, "memory_bytes": self.memory_bytes, "ssd": self.ssd}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SlotShape:
        return cls(int(data["cpus"]), int(data["memory_bytes"]), bool(data.get("ssd", True)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Slot:
    """One slot on one node: its index there, its shape and the CPUs it owns."""

    index: int
    shape: SlotShape
    cpu_set: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {**self.shape.to_dict(), "index": self.index, "cpu_set": list(self.cpu_set)}


def parse_memory(text: str) -> int:
    """``12GB``, ``800MB`` or a byte count as bytes.

    Raises:
        KnobrayError: Not a size.
    """
    try:
        value = parse_quantity(str(text), "B", "--slot-memory")
    except KnobrayError:
        raise KnobrayError(f"--slot-memory {text!r} is not a size; write it like 8GB or 512MB") from None
    return int(value)


def resolve_shape(
    node: Hardware, slots: int, *, cpus: int | None = None, memory_bytes: int | None = None
) -> SlotShape:
    """The shape of each of ``slots`` slots on ``node``: given, or the node's CPUs and RAM divided evenly.

    Raises:
        KnobrayError: The slots do not fit on the node (they never overlap).
    """
    if slots < 1:
        raise KnobrayError("--instances must be at least 1")
    cpus = cpus if cpus is not None else node.cores // slots
    if cpus < 1 or cpus * slots > node.cores:
        per = cpus if cpus >= 1 else 1
        raise KnobrayError(
            f"{slots} slots of {per} CPU{'s' if per > 1 else ''} need {slots * per} CPUs but this node has "
            f"{node.cores}; lower --instances or --slot-cpus"
        )
    memory = memory_bytes if memory_bytes is not None else node.ram_bytes // slots
    if memory * slots > node.ram_bytes:
        raise KnobrayError(
            f"{slots} slots of {memory / GIB:.1f} GB need {memory * slots / GIB:.1f} GB but this node has "
            f"{node.ram_bytes / GIB:.1f} GB; lower --instances or --slot-memory"
        )
    return SlotShape(cpus=cpus, memory_bytes=memory, ssd=node.ssd)


def slot_on_this_node(index: int, shape: SlotShape, available: tuple[int, ...] | None = None) -> Slot:
    """Slot ``index`` of this node: CPUs ``[index * cpus, (index + 1) * cpus)`` of the ones this process may use.

    Raises:
        KnobrayError: The node has too few CPUs for that slot.
    """
    cpus = tuple(sorted(available if available is not None else os.sched_getaffinity(0)))
    first = index * shape.cpus
    if first + shape.cpus > len(cpus):
        raise KnobrayError(
            f"slot {index} of {shape.cpus} CPUs does not fit on this node's {len(cpus)} CPUs; "
            "lower --instances or --slot-cpus (or the node's db_slot count)"
        )
    return Slot(index=index, shape=shape, cpu_set=cpus[first : first + shape.cpus])
