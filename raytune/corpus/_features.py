"""E2ETune's workload features, computed from the SQL text (parsed, never executed).

For a workload of N statements: N, the share of reads (SELECT), of statements with GROUP BY, with ORDER BY,
with an aggregate function, and the mean number of predicates (comparisons, LIKE, IN, BETWEEN, IS in WHERE,
ON and HAVING) per statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from raytune.workloads import Query

_PREDICATES = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Like,
    exp.ILike,
    exp.In,
    exp.Between,
    exp.Is,
)


@dataclass(frozen=True)
class WorkloadFeatures:
    """The E2ETune feature vector of one workload."""

    num_queries: int
    read_ratio: float
    group_by_ratio: float
    order_by_ratio: float
    aggregation_ratio: float
    predicates_per_query: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        """The text E2ETune's model reads."""
        return (
            f"size of workload: {self.num_queries}; read ratio: {self.read_ratio:.2f}; group by ratio: "
            f"{self.group_by_ratio:.2f}; order by ratio: {self.order_by_ratio:.2f}; aggregation ratio: "
            f"{self.aggregation_ratio:.2f}; average predicate num per SQL: {self.predicates_per_query:.2f}"
        )


def workload_features(queries: Sequence[str | Query], dialect: str = "postgres") -> WorkloadFeatures:
    """The features of ``queries``: SQL texts in ``dialect``, or queries each parsed in its own dialect; a
    statement sqlglot cannot parse counts as a read without clauses."""
    n = len(queries)
    if n == 0:
        return WorkloadFeatures(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    reads = groups = orders = aggs = preds = 0
    for query in queries:
        tree = _parse(query, dialect) if isinstance(query, str) else _parse(query.sql, query.dialect)
        if tree is None:
            reads += 1
            continue
        reads += isinstance(tree, exp.Query)
        groups += tree.find(exp.Group) is not None
        orders += tree.find(exp.Order) is not None
        aggs += tree.find(exp.AggFunc) is not None
        preds += _count_predicates(tree)
    return WorkloadFeatures(n, reads / n, groups / n, orders / n, aggs / n, preds / n)


def _count_predicates(tree: exp.Expression) -> int:
    """Comparisons in WHERE, HAVING and join conditions (a SET assignment is not a predicate)."""
    scopes: list[exp.Expression] = list(tree.find_all(exp.Where, exp.Having))
    scopes += [j.args["on"] for j in tree.find_all(exp.Join) if j.args.get("on") is not None]
    return sum(1 for scope in scopes for _ in scope.find_all(*_PREDICATES))


def _parse(sql: str, dialect: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.SqlglotError, RecursionError):
        return None
