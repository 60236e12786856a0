"""Between a ``KnobSpace`` and an optimizer's parameters: one parameter per knob, stepped knobs in step units.

Pure data (no optimizer imports): the Ray Tune and SMAC adapters build their own domains from ``ParamSpec``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raytune.knobs import Knob, KnobSpace, KnobType, KnobValue


class ParamKind(enum.StrEnum):
    INT = "int"
    FLOAT = "float"
    CHOICE = "choice"


@dataclass(frozen=True)
class ParamSpec:
    """One optimizer parameter: ``native = value * scale`` for numbers, a choice for enums and booleans."""

    name: str
    kind: ParamKind
    lower: float = 0.0
    upper: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()
    scale: float = 1.0


def param_specs(space: KnobSpace) -> list[ParamSpec]:
    """The optimizer parameters of ``space``, in order."""
    return [_spec(k) for k in space.knobs]


def _spec(knob: Knob) -> ParamSpec:
    if knob.type is KnobType.BOOL:
        return ParamSpec(knob.name, ParamKind.CHOICE, choices=("on", "off"))
    if knob.type in (KnobType.ENUM, KnobType.STRING):
        return ParamSpec(knob.name, ParamKind.CHOICE, choices=knob.choices)
    assert knob.lower is not None and knob.upper is not None, knob.name
    if knob.type is KnobType.REAL:
        return ParamSpec(knob.name, ParamKind.FLOAT, knob.lower, knob.upper, knob.log)
    scale = float(knob.step) if knob.step and knob.step > 1 else 1.0
    lo, hi = knob.lower / scale, knob.upper / scale
    log = knob.log and lo >= 1
    return ParamSpec(knob.name, ParamKind.INT, float(round(lo)), float(round(hi)), log, scale=scale)


def decode(space: KnobSpace, params: Mapping[str, Any]) -> dict[str, KnobValue]:
    """An optimizer's parameters -> a configuration in native units, repaired to the space's orderings."""
    out: dict[str, KnobValue] = {}
    for spec in param_specs(space):
        if spec.name not in params:
            continue
        value = params[spec.name]
        if spec.kind is ParamKind.CHOICE:
            out[spec.name] = str(value)
        elif spec.kind is ParamKind.INT:
            out[spec.name] = int(round(float(value))) * int(spec.scale)
        else:
            out[spec.name] = float(value)
    return space.repair(out)


def encode(space: KnobSpace, config: Mapping[str, KnobValue]) -> dict[str, Any]:
    """A native configuration -> parameters, projected into the space: knobs outside it are dropped, missing ones
    take their default, values are clipped to the bounds (a special value such as ``-1`` maps to the nearest)."""
    out: dict[str, Any] = {}
    for spec in param_specs(space):
        knob = space[spec.name]
        value = config.get(spec.name, knob.default)
        if spec.kind is ParamKind.CHOICE:
            text = str(value) if value is not None else spec.choices[0]
            out[spec.name] = text if text in spec.choices else spec.choices[0]
            continue
        number = float(value) / spec.scale if isinstance(value, int | float) else spec.lower
        number = min(max(number, spec.lower), spec.upper)
        out[spec.name] = int(round(number)) if spec.kind is ParamKind.INT else number
    return out


def unit_position(spec: ParamSpec, value: float) -> float:
    """Where a number parameter lies between its bounds, in [0, 1] (on a log scale where it is searched on
    one); 0 for a parameter with an empty range."""
    if spec.upper <= spec.lower:
        return 0.0
    if spec.log and spec.lower > 0:
        lo, hi = math.log(spec.lower), math.log(spec.upper)
        return (math.log(max(float(value), spec.lower)) - lo) / (hi - lo)
    return (float(value) - spec.lower) / (spec.upper - spec.lower)


def from_unit_position(spec: ParamSpec, u: float) -> float | int:
    """The number parameter at position ``u`` in [0, 1] of its range (the inverse of ``unit_position``)."""
    if spec.log and spec.lower > 0:
        value = math.exp(math.log(spec.lower) + u * (math.log(spec.upper) - math.log(spec.lower)))
    else:
        value = spec.lower + u * (spec.upper - spec.lower)
    return int(round(value)) if spec.kind is ParamKind.INT else value
