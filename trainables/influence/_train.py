"""Training an influence diagram from trial records: examples, MDL bins, counts and weights, ``diagram.json``
and ``metrics.json``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError
from trainables.influence._data import Examples, derived_units, examples_from_rows
from trainables.influence._discretize import Discretization, mdl_discretize
from trainables.influence._model import VALUE_SCALES, InfluenceModel, learn
from trainables.influence._structure import VARIANTS, NodeKind, Structure, berkeleydb_structure

logger = logging.getLogger(__name__)
WEIGHTS = ("pooled", "within")  # value weights: the thesis's pooled fit, or within a kind of workload


def load_examples(records: Iterable[Path]) -> Examples:
    """The examples of every succeeded Berkeley DB run in the record stores (search results directories).

    Raises:
        KnobrayError: A directory without trial records, or no usable run at all.
    """
    from raytune.storage import TrialStore

    rows: list[dict[str, Any]] = []
    for directory in records:
        store = TrialStore(Path(directory))
        if not len(store):
            raise KnobrayError(f"{directory} holds no trial records; pass a search's --results directory")
        rows += store.rows()
    return examples_from_rows(rows)


def fit_diagram(
    examples: Examples,
    structure: Structure | None = None,
    *,
    value_bins: int = 10,
    weights: str = "pooled",
    value_scale: str = VALUE_SCALES[0],
    disc: Discretization | None = None,
) -> InfluenceModel:
    """Discretizes (MDL) and learns a diagram of ``structure`` (default: the thesis's Berkeley DB model).

    ``disc``: bins already found by ``mdl_discretize`` for these examples, ``structure``'s arcs and
    ``value_bins`` (they depend on nothing else: not on the weights, the value scale or shared parents).

    ``weights="within"`` fits the value weights with the observed workload characteristics as controls
    (``fit_weights``); ``"pooled"`` is the thesis's fit. ``value_scale="log"``: the value nodes hold ln(1 + loss
    per transaction); ``"raw"``, the loss itself (the thesis).

    Raises:
        KnobrayError: An unknown ``weights`` or ``value_scale``.
    """
    if weights not in WEIGHTS:
        raise KnobrayError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    structure = structure or berkeleydb_structure()
    t0 = time.perf_counter()
    reused = disc is not None
    if disc is None:
        disc = mdl_discretize(examples, structure, value_bins=value_bins)
    t1 = time.perf_counter()
    controls = tuple(structure.names(NodeKind.ROOT)) if weights == "within" else ()
    model = learn(examples, structure, disc, weight_controls=controls, value_scale=value_scale)
    bins = {n: disc.cardinality(n) for n in structure.names(NodeKind.ROOT, NodeKind.CHANCE)}
    model.meta.update(examples=len(examples), discretize_s=None if reused else t1 - t0, learn_s=time.perf_counter() - t1, bins=bins,
                      value_bins=value_bins, weights=weights,
                      derived_units=derived_units(n.name for n in structure.nodes))  # fmt: skip
    logger.info("influence diagram: %d examples, bins %s, weights %s", len(examples), bins, model.weights)
    return model


def train_influence(records: list[Path], out: Path, *, value_bins: int = 10, value_nodes: str = "misses",
                    weights: str = "pooled", value_scale: str = VALUE_SCALES[0],
                    variant: str = VARIANTS[0]) -> dict[str, Any]:  # fmt: skip
    """Learns a diagram (structure ``variant``, ``berkeleydb_structure``) from the records and writes
    ``diagram.json`` and ``metrics.json`` to ``out``."""
    examples = load_examples(records)
    model = fit_diagram(examples, berkeleydb_structure(value_nodes, variant), value_bins=value_bins,
                        weights=weights, value_scale=value_scale)  # fmt: skip
    model.meta["variant"] = variant
    model.meta.update(records=[str(r) for r in records], version=f"influence-{time.strftime('%Y%m%d-%H%M')}")
    model.save(out)
    metrics = {**model.meta, "weights": model.weights,
               "value_nodes": value_nodes}  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
