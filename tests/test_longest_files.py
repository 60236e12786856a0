"""The suite's order table (tests/conftest.py) names real test files."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LONGEST_FILES


def test_every_file_the_order_table_names_exists() -> None:
    root = Path(__file__).resolve().parents[1]
    assert len(set(LONGEST_FILES)) == len(LONGEST_FILES)
    assert [p for p in LONGEST_FILES if not (root / p).is_file()] == []
