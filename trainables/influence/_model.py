"""A learned influence diagram: counts and value totals per parent instantiation (thesis section 5.4), value-node
weights from a regression of ln(throughput) (section 5.4.4), evaluation to the optimal decisions with pyAgrum's
LIMID inference (section 5.5), and the fading-factor update (section 5.6).

Probabilities are maximum-likelihood estimates of the counts (no prior: the thesis turned Netica's off);
parent instantiations without counts get the unseen-parameter estimates of ``_unseen``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from raytune.errors import KnobrayError
from trainables.influence._data import Examples, check_units
from trainables.influence._discretize import Discretization
from trainables.influence._structure import Node, NodeKind, Structure
from trainables.influence._unseen import UnseenEstimator, assign_probs

OUTLIER_QUANTILE = 0.985  # the thesis kept the 98.5% of examples with waits/txn < 100 for the weights
# What a value node holds: the loss per transaction itself (the thesis), or ln(1 + loss), whose weight is an
# elasticity: with a hundred threads the losses span four decades, and ln(throughput) is near linear in
# ln(1 + waits per transaction) but not in waits per transaction.
VALUE_SCALES = ("log", "raw")  # the first is the default


def scaled_values(examples: Examples, value_nodes: list[str], scale: str) -> Examples:
    """``examples`` with each value node's column on ``scale`` (``"log"``: ln(1 + loss)).

    Raises:
        KnobrayError: An unknown scale.
    """
    if scale not in VALUE_SCALES:
        raise KnobrayError(f"value scale must be one of {', '.join(VALUE_SCALES)}, not {scale!r}")
    if scale == "raw":
        return examples
    columns = {**examples.columns}
    for v in value_nodes:
        columns[v] = np.log1p(np.maximum(columns[v].astype(float), 0.0))
    return Examples(columns, examples.throughput)


@dataclass
class InfluenceModel:
    """Structure, bins, sufficient statistics and value weights; everything else is derived from them."""

    structure: Structure
    disc: Discretization
    weights: dict[str, float]  # value node -> coefficient in ln(throughput); "intercept"
    counts: dict[str, np.ndarray]  # chance node -> (parent instantiations, states)
    bin_sums: dict[str, np.ndarray]  # chance node -> raw value total per state (bin means V_k)
    bin_counts: dict[str, np.ndarray]
    value_sums: dict[str, np.ndarray]  # value node -> total on the value scale per parent instantiation
    value_counts: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ----- parent instantiations -----------------------------------------------------------------------------
    def cards(self, node: str) -> tuple[int, ...]:
        return tuple(self.disc.cardinality(p) for p in self.structure[node].parents)

    def rows(self, node: str, coded: Mapping[str, np.ndarray]) -> np.ndarray:
        parents = self.structure[node].parents
        if not parents:
            return np.zeros(len(next(iter(coded.values()))), dtype=np.int64)
        return np.ravel_multi_index(tuple(coded[p] for p in parents), self.cards(node)).astype(np.int64)

    def instantiations(self, node: str) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(c) for c in self.cards(node))))

    def knob_parents(self, node: str) -> list[bool]:
        kinds = (NodeKind.DECISION, NodeKind.DISCRETE)
        return [self.structure[p].kind in kinds for p in self.structure[node].parents]

    # ----- parameters ----------------------------------------------------------------------------------------
    def bin_means(self, node: str) -> np.ndarray:
        """V_k: the mean raw value of each bin (a layout fact: its value; an empty bin: its midpoint)."""
        if node in self.disc.states:
            return np.array([float(s) for s in self.disc.states[node]])
        sums, counts = self.bin_sums[node], self.bin_counts[node]
        cuts = list(self.disc.cutoffs[node])
        edges = [cuts[0] - 1.0] + cuts + [cuts[-1] + 1.0] if cuts else [0.0, 0.0]
        fallback = np.array([(edges[i] + edges[i + 1]) / 2 for i in range(len(sums))])
        return np.where(counts > 0, sums / np.maximum(counts, 1e-12), fallback)

    def probabilities(self, node: str) -> np.ndarray:
        """P(node | parents), one row per parent instantiation; unseen rows estimated (section 5.4.3)."""
        key = f"p:{node}"
        if key not in self._cache:
            self._cache[key] = self._probabilities(node)
        return self._cache[key]

    def _probabilities(self, node: str) -> np.ndarray:
        counts = self.counts[node]
        totals = counts.sum(axis=1)
        card = counts.shape[1]
        probs = np.where(totals[:, None] > 0, counts / np.maximum(totals[:, None], 1e-12), 1.0 / card)
        unseen = np.flatnonzero(totals == 0)
        if not self.structure[node].parents or not len(unseen):
            return probs
        v = self.bin_means(node)
        seen = np.flatnonzero(totals > 0)
        if not len(seen):
            return probs
        inst = self.instantiations(node)
        estimator = UnseenEstimator([inst[i] for i in seen], probs[seen] @ v, self.knob_parents(node))
        cutoffs = self.disc.cutoffs.get(node, tuple((v[1:] + v[:-1]) / 2))
        for row in unseen:
            est = estimator.estimate(inst[row])
            if est.value is None:
                continue  # uniform
            if est.source >= 0 and math.isclose(est.value, float(probs[seen[est.source]] @ v)):
                probs[row] = probs[seen[est.source]]
            else:
                probs[row] = assign_probs(est.value, cutoffs, v)
        return probs

    def expected_values(self, node: str) -> np.ndarray:
        """E[value node | parents] per parent instantiation (on ``value_scale``); unseen rows estimated, else the
        mean of the seen rows with the same knob parents, else the overall mean. A node with ``shared`` parents
        gets an additive fit instead (``_additive_means``)."""
        key = f"e:{node}"
        if key not in self._cache:
            if self.structure[node].shared:
                self._cache[key] = self._additive_means(node)
            else:
                sums, counts = self.value_sums[node], self.value_counts[node]
                self._cache[key] = self._filled_means(
                    sums, counts, self.instantiations(node), self.knob_parents(node)
                )
        return self._cache[key]

    @staticmethod
    def _filled_means(
        sums: np.ndarray, counts: np.ndarray, inst: list[tuple[int, ...]], knob: list[bool]
    ) -> np.ndarray:
        """Cell means, the empty cells estimated (``UnseenEstimator``; else the mean of the seen cells with the
        same knob parents; else the overall mean)."""
        means = np.where(counts > 0, sums / np.maximum(counts, 1e-12), np.nan)
        seen = np.flatnonzero(counts > 0)
        overall = float(sums.sum() / max(counts.sum(), 1e-12))
        estimator = UnseenEstimator([inst[i] for i in seen], means[seen], knob) if len(seen) else None
        for row in np.flatnonzero(counts == 0):
            est = estimator.estimate(inst[row]) if estimator else None
            if est is not None and est.value is not None:
                means[row] = est.value
                continue
            same = [i for i in seen if all(inst[i][j] == inst[row][j] for j in range(len(knob)) if knob[j])]
            means[row] = float(np.mean(means[same])) if same else overall
        return means

    def _additive_means(self, node: str) -> np.ndarray:
        """E[value | parents] = f(other parents) + g(shared parents), the least-squares fit to the cell totals
        (``_additive_fit``). Each g is estimated from every run with that state; f's empty cells are estimated
        as in ``_filled_means``."""
        parents, shared = self.structure[node].parents, self.structure[node].shared
        cards = self.cards(node)
        other_axes = [i for i, p in enumerate(parents) if p not in shared]
        order = other_axes + [i for i, p in enumerate(parents) if p in shared]
        n_other = math.prod(cards[i] for i in other_axes)

        def split(table: np.ndarray) -> np.ndarray:
            return table.reshape(cards).transpose(order).reshape(n_other, -1)

        sums, counts = split(self.value_sums[node]), split(self.value_counts[node])
        f, g = _additive_fit(sums, counts)
        n_other_cells = counts.sum(axis=1)
        other_inst = list(itertools.product(*(range(cards[i]) for i in other_axes)))
        knob = [self.knob_parents(node)[i] for i in other_axes]
        f = self._filled_means(f * n_other_cells, n_other_cells, other_inst, knob)
        full = (f[:, None] + g[None, :]).reshape([cards[i] for i in order])
        return full.transpose(np.argsort(order)).reshape(-1)

    # ----- evaluation ------------------------------------------------------------------------------------------
    def diagram(self) -> Any:
        """The pyAgrum influence diagram (built once)."""
        if "diagram" not in self._cache:
            self._cache["diagram"] = _build_diagram(self)
        return self._cache["diagram"]

    def _inference(self, roots: Mapping[str, float], decisions: Mapping[str, str] | None = None) -> Any:
        import pyagrum as gum

        missing = [r for r in self.structure.names(NodeKind.ROOT) if r not in roots]
        if missing:
            raise KnobrayError(f"workload statistics miss {', '.join(missing)}")
        evidence = {r: self.disc.code(r, float(roots[r])) for r in self.structure.names(NodeKind.ROOT)}
        for d, state in (decisions or {}).items():
            if state not in self.structure[d].states:
                raise KnobrayError(
                    f"{d} has no state {state!r}; use one of {', '.join(self.structure[d].states)}"
                )
            evidence[d] = self.structure[d].states.index(state)
        ie = gum.ShaferShenoyLIMIDInference(self.diagram())
        ie.addNoForgettingAssumption(list(self.structure.decision_order))
        ie.setEvidence(evidence)
        ie.makeInference()
        return ie

    def recommend(self, roots: Mapping[str, float]) -> tuple[dict[str, str], float]:
        """The optimal decision states for observed workload characteristics (LIMID inference with the
        characteristics as evidence), and their expected utility: the predicted ln(throughput) less the
        intercept.

        Raises:
            KnobrayError: A characteristic is missing.
        """
        ie = self._inference(roots)
        chosen: dict[str, int] = {}
        for d in self.structure.decision_order:
            policy = ie.optimalDecision(d)
            free = [n for n in policy.names if n not in chosen]
            if free != [d]:
                raise KnobrayError(
                    f"decision {d}'s policy depends on unobserved {', '.join(n for n in free if n != d)}"
                )
            given = {n: chosen[n] for n in policy.names if n in chosen}
            row = np.asarray(policy[given] if given else policy.toarray()).reshape(-1)
            chosen[d] = int(np.argmax(row))
        states = {d: self.structure[d].states[i] for d, i in chosen.items()}
        return states, float(ie.MEU()["mean"])

    def expected_utility(self, roots: Mapping[str, float], decisions: Mapping[str, str]) -> float:
        """The expected utility of one decision for each knob (inference with the decisions as evidence)."""
        return float(self._inference(roots, decisions).MEU()["mean"])

    def brute_force_utility(self, roots: Mapping[str, float], decisions: Mapping[str, str]) -> float:
        """The same by summing over every joint state of the chance nodes (exact and slow: small diagrams)."""
        return _enumerate_utility(self, roots, decisions)

    # ----- learning and updating ---------------------------------------------------------------------------
    def coded(self, examples: Examples) -> dict[str, np.ndarray]:
        return {n: self.disc.codes(n, examples.columns[n]) for n in _coded_nodes(self.structure)}

    @property
    def value_scale(self) -> str:
        """What the value nodes hold: ``"raw"`` losses per transaction or ``"log"``, ln(1 + loss)."""
        return str(self.meta.get("value_scale", "raw"))

    def update(self, examples: Examples, fading: float = 1.0) -> None:
        """Adds examples (raw losses: put on the model's value scale here) one at a time; with ``fading`` < 1
        each count or total an example touches is first multiplied by it (v <- f v + x, equation 40), so that
        recent behaviour weighs more.

        Raises:
            KnobrayError: A fading factor outside (0, 1].
        """
        if not 0 < fading <= 1:
            raise KnobrayError(f"the fading factor must be in (0, 1], got {fading}")
        coded = self.coded(examples)
        examples = scaled_values(examples, self.structure.names(NodeKind.VALUE), self.value_scale)
        rows = {n: self.rows(n, coded) for n in [*self.counts, *self.value_sums]}
        for i in range(len(examples)):
            for n, table in self.counts.items():
                r = rows[n][i]
                table[r] *= fading
                table[r, coded[n][i]] += 1.0
                if n in self.bin_sums:
                    self.bin_sums[n] *= fading
                    self.bin_counts[n] *= fading
                    self.bin_sums[n][coded[n][i]] += float(examples.columns[n][i])
                    self.bin_counts[n][coded[n][i]] += 1.0
            for n in self.value_sums:
                r = rows[n][i]
                self.value_sums[n][r] = fading * self.value_sums[n][r] + float(examples.columns[n][i])
                self.value_counts[n][r] = fading * self.value_counts[n][r] + 1.0
        self._cache.clear()

    # ----- persistence -------------------------------------------------------------------------------------
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        doc = {
            "structure": {"nodes": [[n.name, n.kind.value, list(n.parents), list(n.states), list(n.shared)]
                                    for n in self.structure.nodes],
                          "decision_order": list(self.structure.decision_order)},
            "cutoffs": {k: list(v) for k, v in self.disc.cutoffs.items()},
            "states": {k: list(v) for k, v in self.disc.states.items()},
            "weights": self.weights,
            **{name: {k: v.tolist() for k, v in getattr(self, name).items()}
               for name in ("counts", "bin_sums", "bin_counts", "value_sums", "value_counts")},
            "meta": self.meta,
        }  # fmt: skip
        path = directory / "diagram.json"
        path.write_text(json.dumps(doc))
        return path

    @classmethod
    def load(cls, directory: Path) -> InfluenceModel:
        """A saved model.

        Raises:
            KnobrayError: No diagram.json in ``directory``, or one whose derived variables were computed
                otherwise (``check_units``).
        """
        path = Path(directory) / "diagram.json"
        if not path.exists():
            raise KnobrayError(f"{directory} holds no influence diagram (diagram.json); train one with "
                               "python -m trainables.train influence --records DIR --out DIR")  # fmt: skip
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise KnobrayError(
                f"{path} is not a saved diagram ({exc.msg} at line {exc.lineno}); train it again"
            ) from None
        nodes = tuple(
            Node(n, NodeKind(k), tuple(p), tuple(s), tuple(rest[0] if rest else ()))
            for n, k, p, s, *rest in doc["structure"]["nodes"]
        )
        structure = Structure(nodes, tuple(doc["structure"]["decision_order"]))
        check_units([n.name for n in nodes], doc.get("meta") or {}, path)
        disc = Discretization({k: tuple(v) for k, v in doc["cutoffs"].items()},
                              {k: tuple(v) for k, v in doc["states"].items()})  # fmt: skip
        arrays = {name: {k: np.asarray(v, dtype=float) for k, v in doc[name].items()}
                  for name in ("counts", "bin_sums", "bin_counts", "value_sums", "value_counts")}  # fmt: skip
        return cls(structure, disc, doc["weights"], meta=doc.get("meta", {}), **arrays)


def _additive_fit(sums: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of the cell means on f[row] + g[column], weighted by the counts, from the cell totals:
    f eliminated, the normal equations for g, (diag(n_col) - C' diag(1 / n_row) C) g = S_col - C' (S_row /
    n_row), solved exactly (``lstsq``: they are singular along a constant); g centred on its count-weighted
    mean; a column never observed gets g = 0 (the average effect), a row never observed f = 0 (filled later).
    """
    n_row, n_col = counts.sum(axis=1), counts.sum(axis=0)
    inv_row = np.where(n_row > 0, 1.0 / np.maximum(n_row, 1e-12), 0.0)
    system = np.diag(n_col) - counts.T @ (inv_row[:, None] * counts)
    rhs = sums.sum(axis=0) - counts.T @ (sums.sum(axis=1) * inv_row)
    g = np.linalg.lstsq(system, rhs, rcond=None)[0]
    g = np.where(n_col > 0, g - (n_col * g).sum() / max(n_col.sum(), 1e-12), 0.0)
    f = (sums.sum(axis=1) - counts @ g) * inv_row
    return f, g


def _coded_nodes(structure: Structure) -> list[str]:
    return [n.name for n in structure.nodes if n.kind is not NodeKind.VALUE] + structure.names(NodeKind.VALUE)


def weight_rows(examples: Examples, value_nodes: list[str]) -> np.ndarray:
    """The examples the weights are fitted on: each value node at or below its 98.5th percentile."""
    keep = np.ones(len(examples), dtype=bool)
    for v in value_nodes:
        col = examples.columns[v].astype(float)
        keep &= col <= np.quantile(col, OUTLIER_QUANTILE)
    return keep


def fit_weights(
    examples: Examples, value_nodes: list[str], controls: tuple[str, ...] = ()
) -> dict[str, float]:
    """OLS of ln(throughput) on the value nodes' values (as given: raw or scaled), without the top 1.5% of each
    (``weight_rows``: the thesis's outliers, repeated deadlocks); the coefficients are the value nodes' weights
    (equation 43).

    ``controls`` (observed workload characteristics) enter the regression as further, centred terms whose
    coefficients are dropped: the value weights then measure what a loss costs within a kind of workload rather
    than across workloads (busy workloads have both more waits and lower throughput for reasons no knob
    changes); the intercept is the prediction at the mean workload. The thesis's fit has no controls."""
    keep = weight_rows(examples, value_nodes)
    values = [examples.columns[v].astype(float)[keep] for v in value_nodes]
    controls_ = [examples.columns[c].astype(float)[keep] for c in controls]
    x = np.column_stack([np.ones(keep.sum()), *values, *(c - c.mean() for c in controls_)])
    y = np.log(np.maximum(examples.throughput[keep], 1e-9))
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    weights = coef[1 : 1 + len(value_nodes)]
    return {"intercept": float(coef[0]), **{v: float(c) for v, c in zip(value_nodes, weights, strict=True)}}


def learn(examples: Examples, structure: Structure, disc: Discretization, meta: dict[str, Any] | None = None, *,
          weight_controls: tuple[str, ...] = (), value_scale: str = VALUE_SCALES[0]) -> InfluenceModel:  # fmt: skip
    """Counts, bin totals, value totals and weights (``fit_weights``) from ``examples`` (raw losses) under
    ``disc``, the value nodes on ``value_scale``."""
    values = structure.names(NodeKind.VALUE)
    weights = fit_weights(scaled_values(examples, values, value_scale), values, weight_controls)
    meta = {**(meta or {}), "value_scale": value_scale}
    model = InfluenceModel(structure, disc, weights, {}, {}, {}, {}, {}, meta)
    for node in structure.nodes:
        n_inst = math.prod(model.cards(node.name)) if node.parents else 1
        if node.kind is NodeKind.VALUE:
            model.value_sums[node.name] = np.zeros(n_inst)
            model.value_counts[node.name] = np.zeros(n_inst)
        elif node.kind is not NodeKind.DECISION:
            card = disc.cardinality(node.name)
            model.counts[node.name] = np.zeros((n_inst, card))
            if node.name in disc.cutoffs:
                model.bin_sums[node.name] = np.zeros(card)
                model.bin_counts[node.name] = np.zeros(card)
    model.update(examples)
    return model


def _build_diagram(model: InfluenceModel) -> Any:
    import pyagrum as gum

    s = model.structure
    diag = gum.InfluenceDiagram()
    for node in s.nodes:
        if node.kind is NodeKind.VALUE:
            diag.addUtilityNode(gum.LabelizedVariable(node.name, node.name, 1))
            continue
        labels = list(node.states) if node.kind is NodeKind.DECISION else [str(i) for i in range(model.disc.cardinality(node.name))]  # fmt: skip
        var = gum.LabelizedVariable(node.name, node.name, labels)
        (diag.addDecisionNode if node.kind is NodeKind.DECISION else diag.addChanceNode)(var)
    for node in s.nodes:
        for parent in node.parents:
            diag.addArc(parent, node.name)
    for a, b in itertools.pairwise(s.decision_order):
        diag.addArc(a, b)  # the directed path through the decisions
    for node in s.nodes:
        if node.kind is NodeKind.DECISION:
            continue
        table = diag.utility(node.name) if node.kind is NodeKind.VALUE else diag.cpt(node.name)
        rows = (model.weights[node.name] * model.expected_values(node.name)[:, None]
                if node.kind is NodeKind.VALUE else model.probabilities(node.name))  # fmt: skip
        for inst, row in zip(model.instantiations(node.name), rows, strict=True):
            given = dict(zip(node.parents, inst, strict=True))
            if given:
                table[given] = row.tolist()
            else:
                table.fillWith(row.tolist())
    return diag


def _enumerate_utility(
    model: InfluenceModel, roots: Mapping[str, float], decisions: Mapping[str, str]
) -> float:
    """Exact expected utility by summing over the joint states of the unobserved chance nodes."""
    s = model.structure
    known = {r: model.disc.code(r, float(roots[r])) for r in s.names(NodeKind.ROOT)}
    known.update({d: s[d].states.index(decisions[d]) for d in s.names(NodeKind.DECISION)})
    hidden = [n for n in s.topological_order() if s[n].kind in (NodeKind.CHANCE, NodeKind.DISCRETE)]
    cards = [model.disc.cardinality(n) for n in hidden]
    total = 0.0
    for states in itertools.product(*(range(c) for c in cards)):
        assignment = {**known, **dict(zip(hidden, states, strict=True))}
        p = 1.0
        for n in hidden:
            row = (
                np.ravel_multi_index(tuple(assignment[q] for q in s[n].parents), model.cards(n))
                if s[n].parents
                else 0
            )
            p *= model.probabilities(n)[row, assignment[n]]
            if p == 0:
                break
        if p == 0:
            continue
        for v in s.names(NodeKind.VALUE):
            row = np.ravel_multi_index(tuple(assignment[q] for q in s[v].parents), model.cards(v))
            total += p * model.weights[v] * model.expected_values(v)[row]
    return total
