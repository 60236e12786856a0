"""Request fields -> what the models take, with one-line errors for bad input (HTTP-agnostic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from raytune.errors import KnobrayError
from raytune.slots import SlotShape
from trainables.dann import WorkloadInput
from trainables.recommender import Step, queries_workload

GIB = 1024**3


def slot_shape(slot: Any | None) -> SlotShape:
    """The request's slot, or this machine's CPUs and memory."""
    if slot is None:
        from raytune.hardware import detect_hardware

        node = detect_hardware()
        return SlotShape(node.cores, node.ram_bytes)
    return SlotShape(int(slot.cpus), int(slot.memory_gb * GIB))


def workload_input(engine: str, workload: str | Sequence[str], shape: SlotShape) -> WorkloadInput:
    """The workload as the models see it before any run: its queries' features.

    Raises:
        KnobrayError: No queries, or a statement that does not parse (named by its position).
    """
    from raytune.engines import dialect_of
    from raytune.workloads import parse_queries

    queries = parse_queries(workload, dialect_of(engine), "workload", where="workload query")
    return queries_workload(queries, engine, shape.cpus, shape.memory_bytes, "request")


def check_config(engine: str, config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``config`` in native units.

    Raises:
        KnobrayError: An unknown, deny-listed, mistyped or out-of-range knob (named, with ``where``).
    """
    from raytune.knobs import cached_catalog

    catalog = cached_catalog(engine)
    for name in config:
        if catalog.is_denied(str(name).strip().lower()):
            raise KnobrayError(f"{where}: knob {name} is deny-listed for {engine} (unsafe); leave it out")
    try:
        return catalog.validate(config)
    except KnobrayError as exc:
        raise KnobrayError(f"{where}: {exc}") from None


def current_step(engine: str, current: Any | None) -> Step | None:
    """The multi-step state of a request (None: a first recommendation)."""
    if current is None:
        return None
    config = check_config(engine, current.config, "current.config")
    return Step(config, dict(current.metrics), float(current.latency_ratio))


def render(engine: str, config: Mapping[str, Any]) -> tuple[list[str], str]:
    """Ready-to-apply statements and configuration-file lines for ``config``."""
    from raytune.engines import engine_class
    from raytune.knobs import cached_catalog

    cls, catalog = engine_class(engine), cached_catalog(engine)
    return cls.config_sql(config, catalog), cls.config_file_text(config, catalog)
