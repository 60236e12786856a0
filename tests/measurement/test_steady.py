"""The steady-state detector (pure logic on sample lists)."""

from __future__ import annotations

import pytest

from raytune.measurement import detect_steady_state, is_stable, numeric_delta, percentile


def test_stable_when_sd_under_five_percent_of_mean() -> None:
    assert is_stable([100, 102, 98, 101, 99])
    assert not is_stable([100, 130, 70, 110, 90])


def test_absolute_tolerance_for_near_zero_signals() -> None:
    assert is_stable([0.001, 0.002, 0.0, 0.001, 0.002])  # SD < 0.01 absolute


def test_sliding_window_finds_first_stable_window_after_warmup() -> None:
    warmup = [10, 40, 60, 80]
    steady = [100, 101, 99, 100, 102, 98, 100]
    result = detect_steady_state(warmup + steady, window=5)
    assert result.stable
    assert result.first_stable_index == len(warmup)
    assert result.window_mean == pytest.approx(sum(steady[-5:]) / 5)


def test_unstable_tail_is_reported_unstable() -> None:
    result = detect_steady_state([100, 100, 100, 100, 100, 50, 150, 20, 180, 100], window=5)
    assert result.first_stable_index == 0 and not result.stable


def test_too_few_samples() -> None:
    result = detect_steady_state([1.0, 2.0], window=5)
    assert not result.stable and result.window_mean is None
    with pytest.raises(ValueError, match="at least 2"):
        detect_steady_state([1.0], window=1)


def test_percentile_and_delta() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([], 95) is None
    assert numeric_delta({"a": 1, "b": "x", "c": 2}, {"a": 5, "b": "y", "c": 2.5, "d": 1}) == {
        "a": 4,
        "c": 0.5,
    }
