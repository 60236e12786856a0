"""Parameters of parent instantiations never seen in training (thesis section 5.4.3): a nearest-neighbour estimate
of the expected value, bounded by the seen neighbours along parents in which the value is monotone, and the
probability vector that has that mean (``assign_probs``, figure 5.13).

Knob parents (decisions and the layout they determine) are never varied: an instantiation is estimated only
from seen ones with the same knob values. Gaps the thesis leaves open, settled here: a distance step along a
parent with no seen pair takes the mean step of that parent's other distances (else of all parents, else 1); a
parent is monotone when the signs of its one-parent differences agree on at least 60% of the pairs
(|C_k| > 0.2 x pairs, and at least 2 pairs).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MONOTONE_AGREEMENT = 0.2


@dataclass(frozen=True)
class Estimate:
    """An unseen instantiation's expected value and where it came from (a seen instantiation's index, or -1)."""

    value: float | None
    source: int = -1


class UnseenEstimator:
    """Estimates for one node from its seen parent instantiations.

    Args:
        seen: Parent instantiations (tuples of state indices) that occur in training.
        expected: Their expected values (a value node's mean; a chance node's sum of bin means x probabilities).
        knob: Per parent, whether it is a knob parent (never varied).
    """

    def __init__(
        self, seen: Sequence[tuple[int, ...]], expected: Sequence[float], knob: Sequence[bool]
    ) -> None:
        self.seen = [tuple(s) for s in seen]
        self.expected = np.asarray(expected, dtype=float)
        self.knob = list(knob)
        self.chance = [j for j, k in enumerate(self.knob) if not k]
        self.step, self.direction = self._pair_statistics()

    def _pairs_along(self, j: int) -> list[tuple[int, int]]:
        """Index pairs of seen instantiations that differ in parent ``j`` only."""
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, s in enumerate(self.seen):
            groups[s[:j] + s[j + 1 :]].append(i)
        return [pair for members in groups.values() for pair in itertools.combinations(members, 2)]

    def _pair_statistics(self) -> tuple[dict[tuple[int, int], float], dict[int, int]]:
        """Mean |difference of E| per (parent, bins apart) (equations 34-35) and each parent's monotone
        direction (+1, -1 or 0; equation 36)."""
        sums: dict[tuple[int, int], float] = defaultdict(float)
        counts: dict[tuple[int, int], int] = defaultdict(int)
        direction: dict[int, int] = {}
        for j in self.chance:
            signs = []
            for a, b in self._pairs_along(j):
                delta = self.seen[b][j] - self.seen[a][j]
                diff = self.expected[b] - self.expected[a]
                sums[(j, abs(delta))] += abs(diff)
                counts[(j, abs(delta))] += 1
                signs.append(int(np.sign(diff / delta)))
            c = sum(signs)
            direction[j] = (
                int(np.sign(c)) if len(signs) >= 2 and abs(c) > MONOTONE_AGREEMENT * len(signs) else 0
            )
        step = {key: sums[key] / counts[key] for key in counts}
        return step, direction

    def distance(self, a: tuple[int, ...], b: tuple[int, ...]) -> float:
        """d(a, b): the sum over differing chance parents of the mean |E| difference at that many bins apart;
        infinite when a knob parent differs."""
        total = 0.0
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            if x == y:
                continue
            if self.knob[j]:
                return float("inf")
            total += self._step(j, abs(x - y))
        return total

    def _step(self, j: int, delta: int) -> float:
        if (j, delta) in self.step:
            return self.step[(j, delta)]
        own = [v / d for (k, d), v in self.step.items() if k == j]
        every = [v / d for (_, d), v in self.step.items()]
        per_bin = float(np.mean(own)) if own else float(np.mean(every)) if every else 1.0
        return per_bin * delta

    def estimate(self, target: tuple[int, ...]) -> Estimate:
        """The thesis's equation 37 for ``target``: the nearest neighbour's value if the bounds allow it, else the
        single finite bound, else an interpolation between the bounds; ``Estimate(None)`` when nothing is known."""
        target = tuple(target)
        distances = np.array([self.distance(target, s) for s in self.seen]) if self.seen else np.array([])
        nearest: Estimate = Estimate(None)
        if len(distances) and np.isfinite(distances.min()):
            ties = np.flatnonzero(np.isclose(distances, distances.min()))
            nearest = Estimate(float(self.expected[ties].mean()), int(ties[0]) if len(ties) == 1 else -1)
        low, high = self._bounds(target)
        lo = low[0] if low else -np.inf
        hi = high[0] if high else np.inf
        if nearest.value is not None and lo <= nearest.value <= hi:
            return nearest
        if low and not high:
            return Estimate(low[0], low[1])
        if high and not low:
            return Estimate(high[0], high[1])
        if low and high:
            d_low, d_high = (
                self.distance(target, self.seen[low[1]]),
                self.distance(target, self.seen[high[1]]),
            )
            share = d_low / (d_low + d_high) if d_low + d_high > 0 else 0.5
            return Estimate(lo + share * (hi - lo))
        return nearest

    def _bounds(self, target: tuple[int, ...]) -> tuple[tuple[float, int] | None, tuple[float, int] | None]:
        """(value, source) of the tightest lower and upper bound from seen instantiations that differ from
        ``target`` in one monotone chance parent (figure 5.12); if they cross, only the nearer one is kept."""
        low: tuple[float, int] | None = None
        high: tuple[float, int] | None = None
        for i, s in enumerate(self.seen):
            differing = [j for j in range(len(target)) if s[j] != target[j]]
            if len(differing) != 1 or self.knob[differing[0]] or not self.direction.get(differing[0]):
                continue
            j = differing[0]
            below = s[j] < target[j]
            e = float(self.expected[i])
            is_lower = below if self.direction[j] > 0 else not below
            if is_lower and (low is None or e > low[0]):
                low = (e, i)
            if not is_lower and (high is None or e < high[0]):
                high = (e, i)
        if low and high and low[0] > high[0]:
            if self.distance(target, self.seen[low[1]]) <= self.distance(target, self.seen[high[1]]):
                high = None
            else:
                low = None
        return low, high


def assign_probs(e: float, cutoffs: Sequence[float], bin_means: Sequence[float]) -> np.ndarray:
    """A probability vector over the bins whose mean (by the bins' raw means) is ``e`` (figure 5.13): the mass
    goes to the bin of ``e`` and one neighbour."""
    v = np.asarray(bin_means, dtype=float)
    p = np.zeros(len(v))
    d = int(np.searchsorted(np.asarray(cutoffs, dtype=float), e, side="right"))
    if e < v[d] and d > 0 and v[d] > v[d - 1]:
        p[d] = (e - v[d - 1]) / (v[d] - v[d - 1])
        p[d - 1] = 1 - p[d]
    elif e > v[d] and d < len(v) - 1 and v[d + 1] > v[d]:
        p[d] = (v[d + 1] - e) / (v[d + 1] - v[d])
        p[d + 1] = 1 - p[d]
    else:
        p[d] = 1.0
    return np.clip(p, 0.0, 1.0)
