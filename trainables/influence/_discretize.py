"""Discretization of an influence diagram's continuous nodes (thesis section 5.3).

- :func:`equal_height` is the baseline of figure 5.7 (values heavier than a bin get their own; re-targeting).
- :func:`mdl_discretize` is the thesis's modified incremental MDL algorithm (figure 5.10): every continuous
  chance node starts with one bin; a queue ordered by the distance to a value node is visited, each visit adds at
  most the one cut of highest gain, and only if it lowers the local description length DL' (value nodes have a
  fixed equal-height discretization that enters only the mutual-information terms); an accepted cut re-queues the
  node and its Markov blanket. Friedman and Goldszmidt's description length, equations 20-25.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trainables.influence._data import Examples
from trainables.influence._structure import NodeKind, Structure

MAX_CANDIDATES = 256  # candidate cuts per visit: evenly spaced among the midpoints (all of them when fewer)
MAX_VISITS = 10_000


@dataclass(frozen=True)
class Discretization:
    """Bins of every node: cutoffs of the continuous ones, the states of the discrete ones."""

    cutoffs: dict[str, tuple[float, ...]]
    states: dict[str, tuple[str, ...]]

    def cardinality(self, name: str) -> int:
        return len(self.states[name]) if name in self.states else len(self.cutoffs[name]) + 1

    def codes(self, name: str, values: np.ndarray) -> np.ndarray:
        """Bin (or state) index of each value."""
        if name in self.states:
            index = {s: i for i, s in enumerate(self.states[name])}
            return np.array([index[_state(v)] for v in values], dtype=np.int64)
        return np.searchsorted(np.asarray(self.cutoffs[name]), values.astype(float), side="right").astype(
            np.int64
        )

    def code(self, name: str, value: object) -> int:
        return int(self.codes(name, np.array([value], dtype=object if name in self.states else float))[0])


def _state(value: object) -> str:
    """A discrete value's state label (layout facts are numbers; one decimal keeps them apart)."""
    return value if isinstance(value, str) else f"{float(value):.1f}"


def candidate_cuts(values: np.ndarray, limit: int = MAX_CANDIDATES) -> np.ndarray:
    """Midpoints between successive unique values (rounded to one decimal, as in the thesis)."""
    unique = np.unique(np.round(values.astype(float), 1))
    mids = (unique[1:] + unique[:-1]) / 2
    if len(mids) > limit:
        mids = mids[np.linspace(0, len(mids) - 1, limit).round().astype(int)]
    return mids


def equal_height(values: Sequence[float] | np.ndarray, bins: int) -> tuple[float, ...]:
    """Cutoffs of an equal-height discretization into at most ``bins`` bins (figure 5.7)."""
    unique, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    n = int(counts.sum())
    if bins < 2 or len(unique) < 2:
        return ()
    cuts: list[float] = []
    remaining, bins_left = n, bins
    target = remaining / bins_left
    height = 0
    for i in range(len(unique) - 1):
        height += int(counts[i])
        heavy_next = counts[i + 1] > n / bins
        heavy_here = counts[i] > n / bins
        if heavy_here or heavy_next or abs(height - target) < abs(height + counts[i + 1] - target):
            if len(cuts) < bins - 1:
                cuts.append(float(unique[i] + unique[i + 1]) / 2)
                remaining -= height
                bins_left = max(1, bins_left - 1)
                target = remaining / bins_left
                height = 0
    return tuple(cuts)


# Joint spaces up to this size are counted directly (np.bincount); larger ones are compacted first.
DENSE_CODES = 1 << 22


def entropy_bits(codes: np.ndarray) -> float:
    if len(codes) == 0:
        return 0.0
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def joint_codes(columns: Sequence[np.ndarray], cards: Sequence[int]) -> np.ndarray:
    """One code per row for the joint value of several coded columns."""
    if not columns:
        return np.zeros(0, dtype=np.int64)
    return np.ravel_multi_index(tuple(columns), tuple(cards)).astype(np.int64)


def mutual_information(
    x: np.ndarray, parents: Sequence[np.ndarray], cards: Sequence[int], x_card: int
) -> float:
    """Empirical I(X; parents) in bits (0 for no parents)."""
    if not parents:
        return 0.0
    p = joint_codes(parents, cards)
    if math.prod(cards) * x_card > DENSE_CODES:
        p = np.unique(p, return_inverse=True)[1]  # compact codes: the joint space is large
    joint = p * x_card + x
    return entropy_bits(x) + entropy_bits(p) - entropy_bits(joint)


def _binary_entropy(p: float) -> float:
    return 0.0 if p <= 0 or p >= 1 else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


class _Mdl:
    """The modified MDL search over one data set."""

    def __init__(self, examples: Examples, structure: Structure, value_bins: int, limit: int) -> None:
        self.s, self.n, self.limit = structure, len(examples), limit
        self.raw = examples.columns
        self.continuous = structure.names(NodeKind.ROOT, NodeKind.CHANCE)
        values = structure.names(NodeKind.VALUE)
        states = {d: structure[d].states for d in structure.names(NodeKind.DECISION)}
        for d in structure.names(NodeKind.DISCRETE):
            states[d] = tuple(sorted({_state(v) for v in self.raw[d]}, key=float))
        cutoffs = {x: () for x in self.continuous}
        cutoffs.update({v: equal_height(self.raw[v], value_bins) for v in values})
        self.disc = Discretization(cutoffs, states)
        self.codes = {k: self.disc.codes(k, self.raw[k]) for k in [*cutoffs, *states]}
        self.unique = {x: len(np.unique(np.round(self.raw[x].astype(float), 1))) for x in self.continuous}

    def card(self, name: str) -> int:
        return self.disc.cardinality(name)

    def family_mi(self, child: str, codes: Mapping[str, np.ndarray], cards: Mapping[str, int]) -> float:
        parents = self.s[child].parents
        return mutual_information(
            codes[child], [codes[p] for p in parents], [cards[p] for p in parents], cards[child]
        )

    def local_dl(self, x: str, codes: Mapping[str, np.ndarray], cards: Mapping[str, int]) -> float:
        """DL'(X): the terms of X's own family and its children's families (thesis section 5.3.3)."""
        k = cards[x]
        parents = self.s[x].parents
        complexity = math.prod(cards[p] for p in parents) * (k - 1)
        mi = self.family_mi(x, codes, cards)
        for child in self.s.children(x):
            pi = math.prod(cards[p] for p in self.s[child].parents)
            complexity += pi if self.s[child].kind is NodeKind.VALUE else pi * (cards[child] - 1)
            mi += self.family_mi(child, codes, cards)
        n_unique = self.unique[x]
        cuts = (n_unique - 1) * _binary_entropy((k - 1) / (n_unique - 1)) if n_unique > 1 else 0.0
        return math.log2(k) + math.log2(self.n) / 2 * complexity + cuts - self.n * mi

    def visit(self, x: str) -> bool:
        """Adds the best cut to ``x`` if it lowers DL'(x); whether it did."""
        cards = {k: self.card(k) for k in self.codes}
        current = self.local_dl(x, self.codes, cards)
        cutoffs = np.asarray(self.disc.cutoffs[x])
        best: tuple[float, float] | None = None  # (mi gain, cut)
        for cut in candidate_cuts(self.raw[x], self.limit):
            if np.any(np.isclose(cutoffs, cut)):
                continue
            trial = np.sort(np.append(cutoffs, cut))
            codes = {**self.codes, x: np.searchsorted(trial, self.raw[x].astype(float), side="right")}
            trial_cards = {**cards, x: len(trial) + 1}
            gain = self.family_mi(x, codes, trial_cards) + sum(self.family_mi(c, codes, trial_cards)
                                                               for c in self.s.children(x))  # fmt: skip
            if best is None or gain > best[0]:
                best = (gain, float(cut))
        if best is None:
            return False
        trial = tuple(sorted((*self.disc.cutoffs[x], best[1])))
        codes = {**self.codes, x: np.searchsorted(np.asarray(trial), self.raw[x].astype(float), side="right")}
        if self.local_dl(x, codes, {**cards, x: len(trial) + 1}) >= current:
            return False
        self.disc.cutoffs[x] = trial
        self.codes[x] = codes[x]
        return True

    def run(self) -> Discretization:
        queue = deque(sorted(self.continuous, key=self.s.distance_to_value))
        visits = 0
        while queue and visits < MAX_VISITS:
            x = queue.popleft()
            visits += 1
            if self.visit(x):
                for y in [*sorted(self.s.markov_blanket(x)), x]:
                    if y in self.continuous and y not in queue:
                        queue.append(y)
        return self.disc


def mdl_discretize(
    examples: Examples, structure: Structure, *, value_bins: int = 10, max_candidates: int = MAX_CANDIDATES
) -> Discretization:
    """Cutoffs for every continuous node by the modified incremental MDL algorithm; value nodes get a fixed
    equal-height discretization into ``value_bins`` bins (used only to measure their information)."""
    return _Mdl(examples, structure, value_bins, max_candidates).run()
