"""Knobs as validated data: type, native unit, bounds, special values and their restart cost."""

from __future__ import annotations

import enum
import fnmatch
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from raytune.errors import KnobError
from raytune.knobs._units import format_quantity, parse_quantity

logger = logging.getLogger(__name__)

KnobValue = int | float | str


class KnobType(enum.StrEnum):
    """The value domain of a knob."""

    INTEGER = "integer"
    REAL = "real"
    ENUM = "enum"
    BOOL = "bool"
    STRING = "string"


class ApplyCost(enum.StrEnum):
    """What it takes for a new value to take effect."""

    RELOAD = "reload"
    RESTART = "restart"
    FIXED = "fixed"  # cannot be changed at all (compile-time / internal)


_TRUE = {"on", "true", "yes", "1"}
_FALSE = {"off", "false", "no", "0"}


@dataclass(frozen=True)
class Knob:
    """One configuration knob.

    Numeric values are held in the engine's native ``unit`` (e.g. 8kB pages for ``shared_buffers``).

    Attributes:
        name: The server's name for the knob.
        type: Value domain.
        default: The server's default, in native units.
        lower: Lowest value a search may try (inclusive), in native units.
        upper: Highest value a search may try (inclusive), in native units.
        choices: Allowed values of an enum knob.
        unit: Native unit (``8kB``, ``kB``, ``MB``, ``B``, ``ms``, ``s``) or ``None``.
        log: Whether a search should sample on a log scale.
        special: Values with a special meaning (``0`` = off, ``-1`` = auto) allowed besides the range.
        step: Granularity the server rounds to; read-back values may differ by up to one step.
        cost: Whether a change needs a reload or a restart.
    """

    name: str
    type: KnobType
    default: KnobValue | None = None
    lower: float | None = None
    upper: float | None = None
    choices: tuple[str, ...] = ()
    unit: str | None = None
    log: bool = False
    special: tuple[float, ...] = ()
    step: float | None = None
    cost: ApplyCost = ApplyCost.RELOAD
    description: str = ""

    def __post_init__(self) -> None:
        if self.type in (KnobType.INTEGER, KnobType.REAL):
            if self.lower is not None and self.upper is not None and self.lower > self.upper:
                raise KnobError(
                    f"knob {self.name}: lower bound {self.lower:g} exceeds upper bound {self.upper:g}"
                )
            if self.log and self.lower is not None and self.lower <= 0:
                raise KnobError(f"knob {self.name}: a log-scale range needs a positive lower bound")
        if self.type is KnobType.ENUM and not self.choices:
            raise KnobError(f"knob {self.name}: an enum knob needs its choices")

    @property
    def numeric(self) -> bool:
        return self.type in (KnobType.INTEGER, KnobType.REAL)

    def normalize(self, value: object) -> KnobValue:
        """Checks ``value`` and converts it to native units.

        Raises:
            KnobError: Wrong type, unknown enum value, or outside ``[lower, upper]`` and not special.
        """
        if self.type is KnobType.BOOL:
            text = str(value).strip().lower() if not isinstance(value, bool) else ("on" if value else "off")
            if text in _TRUE:
                return "on"
            if text in _FALSE:
                return "off"
            raise KnobError(f"knob {self.name}: expected on/off, got {value!r}")
        if self.type is KnobType.ENUM:
            text = str(value).strip()
            for choice in self.choices:
                if choice.lower() == text.lower():
                    return choice
            raise KnobError(f"knob {self.name}: {value!r} is not one of {', '.join(self.choices)}")
        if self.type is KnobType.STRING:
            if not isinstance(value, str):
                raise KnobError(f"knob {self.name}: expected a string, got {value!r}")
            return value
        if isinstance(value, str) and value.strip().lower() in (_TRUE | _FALSE) - {"0", "1"}:
            raise KnobError(f"knob {self.name}: expected a number, got {value!r}")
        number = parse_quantity(value, self.unit, self.name)  # type: ignore[arg-type]
        if math.isnan(number) or math.isinf(number):
            raise KnobError(f"knob {self.name}: {value!r} is not a finite number")
        if self.type is KnobType.INTEGER:
            if abs(number - round(number)) > 1e-9:
                raise KnobError(
                    f"knob {self.name}: expected a whole number of {self.unit or 'units'}, got {value!r}"
                )
            number = int(round(number))
        if number in self.special:
            return number
        lo, hi = self.lower, self.upper
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise KnobError(
                f"knob {self.name}: {value!r} is out of range [{self.format(lo)}, {self.format(hi)}]; "
                f"choose a value inside it"
            )
        return number

    def format(self, value: KnobValue | None) -> str:
        """Formats a native value for people (``"256MB"``)."""
        if value is None:
            return "-"
        if self.numeric and isinstance(value, int | float):
            return format_quantity(float(value), self.unit)
        return str(value)

    def render(self, value: KnobValue) -> str:
        """Renders a native value as configuration-file text (no unit suffix: native units implied)."""
        if isinstance(value, float) and self.type is KnobType.INTEGER:
            return str(int(round(value)))
        if isinstance(value, float):
            return f"{value:.6g}"  # servers keep about 6 significant digits of a real knob
        return str(value)

    def with_bounds(self, lower: float | None, upper: float | None) -> Knob:
        return replace(self, lower=lower, upper=upper)


@dataclass(frozen=True)
class KnobSpace(Mapping[str, Knob]):
    """An ordered, immutable set of knobs of one engine, with validation of whole configurations."""

    engine: str
    knobs: tuple[Knob, ...]
    denied: frozenset[str] = field(default_factory=frozenset)
    # (low, high) pairs the server requires in order, value(low) <= value(high), e.g. MariaDB's
    # innodb_io_capacity <= innodb_io_capacity_max; it rejects a configuration that breaks one.
    orderings: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        names = [k.name for k in self.knobs]
        if len(set(names)) != len(names):
            raise KnobError(f"knob space for {self.engine} lists a knob twice")
        for pair in self.orderings:
            if not all(name in names for name in pair):
                raise KnobError(f"knob ordering {pair} of {self.engine} names a knob outside the space")

    def __getitem__(self, name: str) -> Knob:
        for knob in self.knobs:
            if knob.name == name:
                return knob
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (k.name for k in self.knobs)

    def __len__(self) -> int:
        return len(self.knobs)

    def validate(self, config: Mapping[str, object], *, allow_denied: bool = False) -> dict[str, KnobValue]:
        """Validates a whole configuration and returns it in native units.

        Raises:
            KnobError: For the first unknown, deny-listed, mistyped or out-of-range knob.
        """
        out: dict[str, KnobValue] = {}
        for raw_name, value in config.items():
            name = str(raw_name).strip().lower()
            if self.is_denied(name) and not allow_denied:
                raise KnobError(
                    f"knob {name} is deny-listed for {self.engine} (unsafe or changes behaviour); "
                    f"pass --allow-unsafe to set it anyway"
                )
            if name not in self:
                close = _close_names(name, list(self))
                hint = (
                    f"; did you mean {close}?" if close else "; check the spelling or add it to a knob file"
                )
                raise KnobError(f"unknown knob {name!r} for {self.engine}{hint}")
            out[name] = self[name].normalize(value)
        return out

    def repair(self, config: Mapping[str, KnobValue]) -> dict[str, KnobValue]:
        """Returns ``config`` with every ordering of :attr:`orderings` restored.

        Where value(low) > value(high) (a knob left out counts at its default), the high knob is raised to the
        low one's value, or, where that is above the high knob's upper bound, the low knob is lowered to it.
        Optimizers sample knobs independently; this maps their proposal onto one the server accepts.
        """
        out = dict(config)
        for low, high in self.orderings:
            if low not in out and high not in out:
                continue
            lo_v, hi_v = out.get(low, self[low].default), out.get(high, self[high].default)
            if not isinstance(lo_v, int | float) or not isinstance(hi_v, int | float) or lo_v <= hi_v:
                continue
            upper = self[high].upper
            if upper is None or lo_v <= upper:
                out[high] = lo_v
            else:
                out[low] = hi_v
            logger.debug("%s: %s=%s above %s=%s; repaired to %s", self.engine, low, lo_v, high, hi_v, out)
        return out

    def is_denied(self, name: str) -> bool:
        """Whether ``name`` matches the deny-list (entries may end in ``*``)."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.denied)


def _close_names(name: str, names: list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return match[0] if match else None
