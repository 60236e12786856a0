"""Tensors the model consumes, built once per (benchmark, scale) from a LatencyDataset.

Every query's plan becomes nodes with features (operator type, referenced table, that table's column
statistics, predicate and width counts); trees are binarised (first child left, second right) and flattened
into one node array with child-index vectors, index 0 being an all-zero padding node.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.lakehelm import (
    ConfigVectorizer,
    LatencyDataset,
    PlanNode,
    find_plan_file,
    load_stats,
    parse_spark_plan,
)

_PREDICATE = re.compile(r"\b(AND|OR)\b")
_COMPARE = re.compile(r"(<=|>=|<|>|=|\bIN\b|\bLIKE\b)")


@dataclass(frozen=True)
class PlanVocabulary:
    """What a plan node's features are made of: the operator kinds and tables seen in training, and each
    table's statistics. Kinds and tables it lacks get no one-hot (a new query's plan still encodes)."""

    kinds: tuple[str, ...]
    tables: tuple[str, ...]
    table_features: dict[str, tuple[float, ...]]

    @property
    def n_features(self) -> int:
        return len(self.kinds) + len(self.tables) + 3 + 6


def flatten_trees(
    trees: dict[int, PlanNode], vocab: PlanVocabulary
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Node features, left and right child indices and owning query of ``trees`` (query index -> plan), as one
    node array whose row 0 is the all-zero padding node."""
    kind_ix = {k: i for i, k in enumerate(vocab.kinds)}
    table_ix = {t: i for i, t in enumerate(vocab.tables)}
    n_kinds, n_tables = len(vocab.kinds), len(vocab.tables)
    rows: list[np.ndarray] = [np.zeros(vocab.n_features, np.float32)]
    left, right, owner = [0], [0], [-1]
    for q, tree in sorted(trees.items()):
        base = len(rows)
        order: list[tuple[PlanNode, int]] = []
        stack = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            order.append((node, depth))
            stack.extend((c, depth + 1) for c in reversed(node.children))
        pos = {id(n): base + i for i, (n, _) in enumerate(order)}
        for node, depth in order:
            x = np.zeros(vocab.n_features, np.float32)
            if node.kind in kind_ix:
                x[kind_ix[node.kind]] = 1
            if node.table in table_ix:
                x[n_kinds + table_ix[node.table]] = 1
            if node.table in vocab.table_features:
                x[n_kinds + n_tables : n_kinds + n_tables + 3] = vocab.table_features[node.table]
            x[-6:] = _node_numeric(node, depth)
            rows.append(x)
            kids = node.children
            left.append(pos[id(kids[0])] if kids else 0)
            right.append(pos[id(kids[1])] if len(kids) > 1 else 0)
            owner.append(q)
    return np.stack(rows), np.array(left, np.int64), np.array(right, np.int64), np.array(owner, np.int64)


@dataclass
class PreparedData:
    """Everything a training worker needs, as NumPy arrays (picklable, device-agnostic)."""

    n_queries: int
    engines: list[str]
    lakes: list[str]
    combo_engine: np.ndarray  # combo -> engine index
    combo_lake: np.ndarray  # combo -> lake index
    # plans: flattened nodes of every query that has one
    node_x: np.ndarray  # [N+1, F]; row 0 = padding
    node_left: np.ndarray  # [N+1]
    node_right: np.ndarray  # [N+1]
    node_tree: np.ndarray  # [N+1]; owning query (row 0: -1)
    has_plan: np.ndarray  # [Q] bool
    # records
    rec_query: np.ndarray
    rec_combo: np.ndarray
    rec_conf: np.ndarray  # [R] global config index
    rec_conf_x: np.ndarray  # [R, C] config vector + combo one-hot
    rec_ratio: np.ndarray
    combo_best_ratio: np.ndarray  # [Q, K]: best ratio of query q on combo k (inf if unmeasured)
    vocab: PlanVocabulary | None = None  # what node features mean (to encode plans of new queries)

    @property
    def node_features(self) -> int:
        return int(self.node_x.shape[1])

    @property
    def conf_features(self) -> int:
        return int(self.rec_conf_x.shape[1]) + PRIOR_FEATURES


PRIOR_FEATURES = 3
PRIOR_LOG_RATIO, PRIOR_CLIPPED_RATIO, PRIOR_COUNT = range(PRIOR_FEATURES)  # columns of config_priors


def config_priors(data: PreparedData, train_mask: np.ndarray, shrink: float = 2.0) -> np.ndarray:
    """Per record, how its config fared on the training queries (target encoding), [R, 3].

    Columns: mean log ratio of the config over training queries, shrunk towards its combo's mean; the same
    for the ratio clipped at 10 (tails matter for a mean of ratios); log of the number of training queries
    that measured it. A training record's own query is left out of its config's statistics, so the feature
    never contains the label it is trained to predict.
    """
    own = train_mask[data.rec_query]
    return _shrunk_priors(data, train_mask, data.rec_conf, data.rec_combo, own, shrink)


def config_table_priors(
    data: PreparedData, train_mask: np.ndarray, confs: np.ndarray, combos: np.ndarray, shrink: float = 2.0
) -> np.ndarray:
    """:func:`config_priors` of configs ``confs`` (on ``combos``) for a query that is in no training set."""
    return _shrunk_priors(data, train_mask, confs, combos, None, shrink)


def _shrunk_priors(
    data: PreparedData,
    train_mask: np.ndarray,
    conf: np.ndarray,
    combo: np.ndarray,
    own_rows: np.ndarray | None,
    shrink: float,
) -> np.ndarray:
    """Prior columns for rows (config ``conf`` on combo ``combo``); ``own_rows`` marks rows that are training
    records, whose own value is left out."""
    m = train_mask[data.rec_query]
    n_conf = int(data.rec_conf.max()) + 1
    n_combo = int(data.rec_combo.max()) + 1
    out = np.zeros((len(conf), PRIOR_FEATURES), np.float32)
    columns = (
        (PRIOR_LOG_RATIO, np.log(data.rec_ratio)),
        (PRIOR_CLIPPED_RATIO, np.minimum(data.rec_ratio, 10.0)),
    )
    for col, value in columns:
        s = np.bincount(data.rec_conf[m], value[m], n_conf)
        c = np.bincount(data.rec_conf[m], None, n_conf)
        cs = np.bincount(data.rec_combo[m], value[m], n_combo)
        cc = np.bincount(data.rec_combo[m], None, n_combo)
        own = np.where(own_rows, value, 0.0) if own_rows is not None else 0.0
        own_n = own_rows.astype(float) if own_rows is not None else 0.0
        combo_mean = (cs[combo] - own) / np.maximum(cc[combo] - own_n, 1)
        combo_mean = np.where(cc[combo] - own_n > 0, combo_mean, float(value[m].mean()))
        conf_s = s[conf] - own
        conf_n = c[conf] - own_n
        out[:, col] = (conf_s + shrink * combo_mean) / (conf_n + shrink)
        if col == PRIOR_LOG_RATIO:
            out[:, PRIOR_COUNT] = np.log1p(conf_n)
    return out


def _node_numeric(node: PlanNode, depth: int) -> list[float]:
    text = node.text
    return [
        math.log1p(len(text)) / 6,
        len(_PREDICATE.findall(text)) / 8,
        len(_COMPARE.findall(text)) / 8,
        text.count("#") / 40,
        depth / 20,
        float("subquery" in text.lower()),
    ]


def prepare(ds: LatencyDataset, plans_dir: Path | None = None, stats_dir: Path | None = None) -> PreparedData:
    """Parses plans and statistics and vectorises configs for ``ds``."""
    plans_dir = Path(plans_dir) if plans_dir else ds.root / "plans"
    stats = load_stats(Path(stats_dir) if stats_dir else ds.root / "stats")
    trees: dict[int, PlanNode] = {}
    for q, name in enumerate(ds.queries):
        path = find_plan_file(plans_dir, ds.benchmark, ds.raw_names[name], ds.sf)
        if path is not None and (tree := parse_spark_plan(path.read_text(errors="replace"))) is not None:
            trees[q] = tree
    tables = sorted({n.table for t in trees.values() for n in t.walk() if n.table})
    vocab = PlanVocabulary(
        kinds=tuple(sorted({n.kind for t in trees.values() for n in t.walk()})),
        tables=tuple(tables),
        table_features={t: tuple(stats[t].features()) for t in tables if t in stats},
    )
    node_x, node_left, node_right, node_tree = flatten_trees(trees, vocab)
    engines, lakes = ds.engines, ds.lakes
    combo_engine = np.array([engines.index(c.engine) for c in ds.combos])
    combo_lake = np.array([lakes.index(c.lake) for c in ds.combos])
    conf_engines = [ds.combos[int(k)].engine for k in ds.conf_combo]
    vec = ConfigVectorizer().fit(conf_engines, ds.conf_text)
    conf_x = vec.transform(conf_engines, ds.conf_text)
    combo_onehot = np.eye(len(ds.combos), dtype=np.float32)[ds.conf_combo]
    conf_x = np.concatenate([conf_x, combo_onehot], axis=1)
    combo_best = np.full((len(ds.queries), len(ds.combos)), np.inf)
    np.minimum.at(combo_best, (ds.rec_query, ds.rec_combo), ds.rec_ratio)
    return PreparedData(
        n_queries=len(ds.queries),
        engines=engines,
        lakes=lakes,
        combo_engine=combo_engine,
        combo_lake=combo_lake,
        node_x=node_x,
        node_left=node_left,
        node_right=node_right,
        node_tree=node_tree,
        has_plan=np.array([q in trees for q in range(len(ds.queries))]),
        rec_query=ds.rec_query.copy(),
        rec_combo=ds.rec_combo.copy(),
        rec_conf=ds.rec_conf.copy(),
        rec_conf_x=conf_x[ds.rec_conf],
        rec_ratio=ds.rec_ratio.astype(np.float32),
        combo_best_ratio=combo_best,
        vocab=vocab,
    )
