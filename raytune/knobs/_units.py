"""Unit parsing and conversion for memory and time knobs.

Engines report each numeric knob in a native unit (PostgreSQL: ``8kB``, ``kB``, ``MB``, ``ms``, ``s``, ``min``;
MariaDB: bytes, seconds). Users write ``"256MB"`` or ``"10s"``. Everything is converted to the native unit.
"""

from __future__ import annotations

import re

from raytune.errors import KnobError

_MEMORY = {
    "b": 1,
    "kb": 1024,
    "k": 1024,
    "mb": 1024**2,
    "m": 1024**2,
    "gb": 1024**3,
    "g": 1024**3,
    "tb": 1024**4,
    "t": 1024**4,
}
_TIME = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*$")
_NATIVE = re.compile(r"^(\d*)\s*([a-zA-Z]+)$")


def unit_kind(unit: str | None) -> str | None:
    """Returns ``"memory"``, ``"time"`` or ``None`` for a native unit such as ``8kB`` or ``ms``."""
    if not unit:
        return None
    _, base = _split_native(unit)
    if base.lower() in _MEMORY:
        return "memory"
    if base in _TIME:
        return "time"
    return None


def _split_native(unit: str) -> tuple[int, str]:
    m = _NATIVE.match(unit.strip())
    if not m:
        return 1, unit
    return int(m.group(1) or 1), m.group(2)


def unit_scale(unit: str) -> float:
    """Size of one native unit in bytes (memory) or milliseconds (time)."""
    count, base = _split_native(unit)
    if base.lower() in _MEMORY:
        return count * _MEMORY[base.lower()]
    if base in _TIME:
        return count * _TIME[base]
    raise KnobError(f"unknown unit {unit!r}; use one of B, kB, MB, GB, ms, s, min")


def parse_quantity(text: str | int | float, unit: str | None, knob: str) -> float:
    """Parses ``text`` (``"256MB"``, ``"10s"``, ``42``) into a number of native ``unit``.

    Raises:
        KnobError: If the text is not a number, or its suffix does not fit the knob's unit.
    """
    if isinstance(text, bool):
        raise KnobError(f"knob {knob}: expected a number, got {text!r}")
    if isinstance(text, int | float):
        try:
            return float(text)
        except OverflowError:
            raise KnobError(
                f"knob {knob}: {text} is too large a number; choose a value in the knob's range"
            ) from None
    m = _QUANTITY.match(str(text))
    if not m:
        raise KnobError(f"knob {knob}: cannot read {text!r} as a number; write e.g. 64MB, 10s or 100")
    number, suffix = float(m.group(1)), m.group(2)
    if not suffix:
        return number
    kind = unit_kind(unit)
    if kind is None:
        raise KnobError(f"knob {knob}: takes a plain number, not {text!r}; drop the unit")
    table = _MEMORY if kind == "memory" else _TIME
    key = suffix.lower() if kind == "memory" else suffix
    if key not in table:
        expected = "B, kB, MB, GB, TB" if kind == "memory" else "us, ms, s, min, h, d"
        raise KnobError(f"knob {knob}: unit {suffix!r} does not fit a {kind} knob; use one of {expected}")
    return number * table[key] / unit_scale(unit or "")


def format_quantity(value: float, unit: str | None) -> str:
    """Formats a native-unit number for people (``32768`` of ``8kB`` -> ``"256MB"``)."""
    kind = unit_kind(unit)
    if kind is None or unit is None:
        return f"{value:g}"
    base = value * unit_scale(unit)
    units = (
        [(s, _MEMORY[s.lower()]) for s in ("TB", "GB", "MB", "kB", "B")]
        if kind == "memory"
        else [(s, _TIME[s]) for s in ("d", "h", "min", "s", "ms")]
    )
    for suffix, size in units:  # the largest unit not above the value; 4 significant digits
        if base >= size:
            return f"{int(base // size)}{suffix}" if base % size == 0 else f"{base / size:.4g}{suffix}"
    return f"{base:g}{units[-1][0]}"


def exact_quantity(value: float, unit: str | None) -> str:
    """Formats a native-unit integer in the largest unit that represents it exactly (``28569kB``, ``256MB``),
    for configuration files a server reads back to the same value."""
    kind = unit_kind(unit)
    if kind is None or unit is None or value != int(value) or value <= 0:
        return f"{value:g}"
    base = int(value * unit_scale(unit))
    names = ("TB", "GB", "MB", "kB", "B") if kind == "memory" else ("d", "h", "min", "s", "ms")
    table = _MEMORY if kind == "memory" else _TIME
    for suffix in names:
        size = int(table[suffix.lower()] if kind == "memory" else table[suffix])
        if size and base % size == 0:
            return f"{base // size}{suffix}"
    return f"{value:g}"
