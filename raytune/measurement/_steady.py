"""Steady-state detection over a sliding window of equally spaced samples (Sullivan 2003, section 6.3).

A window of ``n`` samples is stable when the standard deviation of its samples is under ``rel_tol`` of their
mean or under ``abs_tol`` in absolute terms. Stability is decided after the fact, over the samples kept.
The thesis leaves sample vs population SD open; knobray uses the sample SD (ddof=1), the stricter of the two.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SteadyState:
    """Outcome of the check.

    Attributes:
        stable: Whether the last window is stable.
        first_stable_index: Index of the first sample of the earliest stable window, or ``None``.
        window_mean: Mean over the last window (the value to report when stable).
        window_sd: Sample SD over the last window.
        window: Window length in samples.
    """

    stable: bool
    first_stable_index: int | None
    window_mean: float | None
    window_sd: float | None
    window: int


def is_stable(window: Sequence[float], rel_tol: float = 0.05, abs_tol: float = 0.01) -> bool:
    """Whether one window of samples is stable."""
    if len(window) < 2:
        return False
    mean = statistics.fmean(window)
    sd = statistics.stdev(window)
    return sd < abs_tol or sd < rel_tol * abs(mean)


def detect_steady_state(
    samples: Sequence[float], window: int = 5, rel_tol: float = 0.05, abs_tol: float = 0.01
) -> SteadyState:
    """Checks ``samples`` with a sliding window of ``window`` samples.

    Raises:
        ValueError: If ``window`` is below 2.
    """
    if window < 2:
        raise ValueError(f"a steady-state window needs at least 2 samples, got {window}")
    first = next(
        (i for i in range(len(samples) - window + 1) if is_stable(samples[i : i + window], rel_tol, abs_tol)),
        None,
    )
    if len(samples) < window:
        return SteadyState(False, None, None, None, window)
    last = samples[-window:]
    return SteadyState(
        is_stable(last, rel_tol, abs_tol), first, statistics.fmean(last), statistics.stdev(last), window
    )
