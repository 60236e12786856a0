"""Knob definitions, validated knob spaces and curated tunable sets."""

from __future__ import annotations

from raytune.knobs._catalog import (
    cached_catalog,
    load_catalog,
    load_knob_file,
    save_catalog,
    tunable_space,
    write_knob_subset,
)
from raytune.knobs._knob import ApplyCost, Knob, KnobSpace, KnobType, KnobValue
from raytune.knobs._units import exact_quantity, format_quantity, parse_quantity

__all__ = [
    "ApplyCost",
    "Knob",
    "KnobSpace",
    "KnobType",
    "KnobValue",
    "exact_quantity",
    "format_quantity",
    "cached_catalog",
    "load_catalog",
    "load_knob_file",
    "parse_quantity",
    "save_catalog",
    "tunable_space",
    "write_knob_subset",
]
