"""A configuration as the recommender writes it: one decile bucket of each tunable knob's range.

The range is the one searched in the slot (bounds relative to the slot's CPUs and memory); a number's bucket is
its position in that range on the scale it is searched on (log for sizes), cut in ten; a choice knob's bucket is
the index of its value (at most ten choices). A bucket decodes to the middle of its range, so a recommendation
is always inside the tunable space, repaired to its orderings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from raytune.knobs import KnobSpace, cached_catalog
from raytune.optimizers import (
    ParamKind,
    ParamSpec,
    decode,
    encode,
    from_unit_position,
    param_specs,
    unit_position,
)
from trainables.dann._features import slot_space

BUCKETS = 10


def bucket_count(spec: ParamSpec) -> int:
    """How many buckets a knob has: ten for a number, one per choice (at most ten) for a choice."""
    return min(BUCKETS, len(spec.choices)) if spec.kind is ParamKind.CHOICE else BUCKETS


@dataclass(frozen=True)
class KnobBuckets:
    """The bucket encoding of one engine's tunable knobs in one slot shape."""

    engine: str
    cpus: int
    memory_bytes: int

    @cached_property
    def space(self) -> KnobSpace:
        return slot_space(self.engine, self.cpus, self.memory_bytes)

    @cached_property
    def specs(self) -> list[ParamSpec]:
        return param_specs(self.space)

    @property
    def knobs(self) -> list[str]:
        """Knob names in the order the recommender writes them."""
        return [s.name for s in self.specs]

    def to_buckets(self, config: Mapping[str, Any]) -> list[int]:
        """The bucket of each knob (a knob the configuration leaves out: its default's bucket; a value outside
        the searched range: the nearest end's; knobs outside the tunable set are ignored)."""
        space = self.space
        known = {k: v for k, v in config.items() if k in space}
        params = encode(space, cached_catalog(self.engine).validate(known, allow_denied=True))
        out = []
        for spec in self.specs:
            value = params[spec.name]
            if spec.kind is ParamKind.CHOICE:
                out.append(min(spec.choices.index(str(value)), bucket_count(spec) - 1))
            else:
                out.append(min(BUCKETS - 1, int(unit_position(spec, float(value)) * BUCKETS)))
        return out

    def from_buckets(self, buckets: Sequence[int]) -> dict[str, Any]:
        """The configuration at the middle of each knob's bucket, in native units."""
        params: dict[str, Any] = {}
        for spec, b in zip(self.specs, buckets, strict=True):
            if spec.kind is ParamKind.CHOICE:
                params[spec.name] = spec.choices[min(int(b), len(spec.choices) - 1)]
            else:
                params[spec.name] = from_unit_position(spec, (int(b) + 0.5) / BUCKETS)
        return decode(self.space, params)
