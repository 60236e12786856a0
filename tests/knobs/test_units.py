from __future__ import annotations

import pytest

from raytune.errors import KnobError
from raytune.knobs import format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("256MB", "8kB", 32768),
        ("64MB", "kB", 65536),
        ("1GB", "MB", 1024),
        ("8kB", "8kB", 1),
        ("10s", "ms", 10_000),
        ("5min", "s", 300),
        ("200ms", "ms", 200),
        (42, "8kB", 42),
        ("42", None, 42),
        ("128MB", "B", 134217728),
        ("0.5", None, 0.5),
    ],
)
def test_parse_quantity_converts_to_native_units(text: object, unit: str | None, expected: float) -> None:
    assert parse_quantity(text, unit, "k") == pytest.approx(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "unit", "fragment"),
    [
        ("lots", "kB", "cannot read"),
        ("10s", "kB", "does not fit a memory knob"),
        ("10MB", "ms", "does not fit a time knob"),
        ("10MB", None, "plain number"),
        (True, "kB", "expected a number"),
    ],
)
def test_parse_quantity_rejects_bad_text(text: object, unit: str | None, fragment: str) -> None:
    with pytest.raises(KnobError, match=fragment):
        parse_quantity(text, unit, "k")  # type: ignore[arg-type]


def test_format_quantity_picks_largest_exact_unit() -> None:
    assert format_quantity(32768, "8kB") == "256MB"
    assert format_quantity(300, "s") == "5min"
    assert format_quantity(3, None) == "3"
    assert format_quantity(1536, "kB") == "1.5MB"
    assert format_quantity(1073741823, "8kB") == "8TB"
