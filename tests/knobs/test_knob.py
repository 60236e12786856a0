from __future__ import annotations

import pytest

from raytune.errors import KnobError
from raytune.knobs import ApplyCost, Knob, KnobSpace, KnobType


def _space() -> KnobSpace:
    return KnobSpace(
        "postgres",
        (
            Knob(
                "shared_buffers", KnobType.INTEGER, 16384, 16, 1_000_000, unit="8kB", cost=ApplyCost.RESTART
            ),
            Knob("random_page_cost", KnobType.REAL, 4.0, 0.0, 100.0),
            Knob("jit", KnobType.BOOL, "on"),
            Knob("wal_buffers", KnobType.INTEGER, -1, 4, 262143, unit="8kB", special=(-1,)),
            Knob("huge_pages", KnobType.ENUM, "try", choices=("off", "on", "try")),
            Knob("fsync", KnobType.BOOL, "on"),
            Knob("log_min_messages", KnobType.ENUM, "warning", choices=("warning", "error")),
        ),
        frozenset({"fsync", "log_*"}),
    )


def test_validate_normalises_units_types_and_enums() -> None:
    out = _space().validate(
        {"shared_buffers": "256MB", "random_page_cost": "1.5", "jit": False, "huge_pages": "OFF"}
    )
    assert out == {"shared_buffers": 32768, "random_page_cost": 1.5, "jit": "off", "huge_pages": "off"}


def test_special_value_allowed_outside_range() -> None:
    assert _space().validate({"wal_buffers": -1}) == {"wal_buffers": -1}


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"shared_bufers": "1GB"}, "unknown knob 'shared_bufers' for postgres; did you mean shared_buffers"),
        ({"shared_buffers": "100GB"}, "out of range"),
        ({"shared_buffers": "64kB"}, "out of range"),
        ({"random_page_cost": "fast"}, "cannot read"),
        ({"jit": "maybe"}, "expected on/off"),
        ({"huge_pages": "always"}, "not one of off, on, try"),
        ({"shared_buffers": "1.5"}, "whole number"),
        ({"fsync": "off"}, "deny-listed"),
        ({"log_min_messages": "error"}, "deny-listed"),
    ],
)
def test_validate_rejects_bad_input_with_one_line(config: dict[str, object], fragment: str) -> None:
    with pytest.raises(KnobError) as err:
        _space().validate(config)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_deny_list_lifted_by_flag() -> None:
    assert _space().validate({"fsync": "off"}, allow_denied=True) == {"fsync": "off"}


def test_knob_invariants_checked() -> None:
    with pytest.raises(KnobError, match="exceeds"):
        Knob("x", KnobType.INTEGER, lower=10, upper=1)
    with pytest.raises(KnobError, match="log-scale"):
        Knob("x", KnobType.INTEGER, lower=0, upper=10, log=True)
    with pytest.raises(KnobError, match="choices"):
        Knob("x", KnobType.ENUM)


def test_space_rejects_duplicates_and_renders_native_text() -> None:
    knob = Knob("a", KnobType.INTEGER, lower=0, upper=10)
    with pytest.raises(KnobError, match="twice"):
        KnobSpace("postgres", (knob, knob))
    assert knob.render(3.0) == "3"
    assert Knob("b", KnobType.REAL).render(0.25) == "0.25"


def test_repair_restores_orderings_the_server_requires() -> None:
    space = KnobSpace(
        "mariadb",
        (
            Knob("innodb_io_capacity", KnobType.INTEGER, 200, 100, 20000),
            Knob("innodb_io_capacity_max", KnobType.INTEGER, 2000, 200, 40000),
            Knob("lwm", KnobType.REAL, 0.0, 0.0, 50.0),
            Knob("pct", KnobType.REAL, 90.0, 10.0, 30.0),
        ),
        orderings=(("innodb_io_capacity", "innodb_io_capacity_max"), ("lwm", "pct")),
    )
    # the high knob is raised to the low one's value
    assert space.repair({"innodb_io_capacity": 9000, "innodb_io_capacity_max": 4000}) == {
        "innodb_io_capacity": 9000,
        "innodb_io_capacity_max": 9000,
    }
    # a knob left out counts at its default (2000 here)
    assert space.repair({"innodb_io_capacity": 5000}) == {
        "innodb_io_capacity": 5000,
        "innodb_io_capacity_max": 5000,
    }
    # where the high knob cannot go that far, the low one comes down to it
    assert space.repair({"lwm": 45.0, "pct": 20.0}) == {"lwm": 20.0, "pct": 20.0}
    ordered = {"innodb_io_capacity": 300, "innodb_io_capacity_max": 600, "lwm": 1.0}
    assert space.repair(ordered) == ordered and space.repair({}) == {}
