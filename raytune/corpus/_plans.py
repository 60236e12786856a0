"""Query plans as compact operator trees, the form E2ETune's model reads.

PostgreSQL ``EXPLAIN (FORMAT JSON)``: lower-cased node types, children in parentheses, each inner node closed by
its own cost (total minus startup), e.g. ``sort(aggregate(hash join(seq scan, hash(seq scan, 0.0), 33k), 166.7),
13.9)``. MariaDB ``EXPLAIN FORMAT=JSON``: its operation blocks (filesort, temporary table, nested loop, ...)
and tables with their access type and estimated rows, e.g. ``filesort(nested loop(all region 5, ref nation 5))``.
"""

from __future__ import annotations

from typing import Any

_MARIADB_OPERATIONS = {
    "query_block": None,  # transparent
    "ordering_operation": "ordering",
    "grouping_operation": "grouping",
    "filesort": "filesort",
    "temporary_table": "temporary table",
    "duplicates_removal": "duplicates removal",
    "nested_loop": "nested loop",
    "materialized": "materialized",
    "subqueries": "subqueries",
    "union_result": "union",
    "window_functions_computation": "window",
    "read_sorted_file": "read sorted file",
    "block-nl-join": "block nl join",
}


def compact_plan(plan: Any) -> str:
    """One plan (as EXPLAIN returned it, parsed from JSON) as a compact tree; ``""`` for an error or nothing."""
    if isinstance(plan, list) and plan and isinstance(plan[0], dict) and "Plan" in plan[0]:
        return _postgres(plan[0]["Plan"])
    if isinstance(plan, dict) and "Plan" in plan:
        return _postgres(plan["Plan"])
    if isinstance(plan, dict) and "query_block" in plan:
        return _mariadb(plan) or ""
    return ""


def compact_plans(plans: dict[str, Any]) -> dict[str, str]:
    """Query name -> compact tree, for the queries whose plan is known."""
    out = {name: compact_plan(plan) for name, plan in plans.items()}
    return {name: tree for name, tree in out.items() if tree}


def _cost(value: float) -> str:
    return f"{value / 1000:.0f}k" if value >= 1000 else f"{value:.1f}"


def _postgres(node: dict[str, Any]) -> str:
    name = str(node.get("Node Type", "?")).lower()
    children = [_postgres(c) for c in node.get("Plans", [])]
    if not children:
        return name
    cost = float(node.get("Total Cost", 0.0)) - float(node.get("Startup Cost", 0.0))
    return f"{name}({', '.join([*children, _cost(cost)])})"


def _mariadb(node: Any) -> str | None:
    if isinstance(node, list):
        parts = [p for p in (_mariadb(x) for x in node) if p]
        return ", ".join(parts) if parts else None
    if not isinstance(node, dict):
        return None
    if "table_name" in node:
        access = str(node.get("access_type", "")).lower()
        rows = node.get("rows")
        return " ".join(str(x) for x in (access, node["table_name"], rows) if x not in ("", None))
    parts: list[str] = []
    for key, value in node.items():
        if key == "table" and isinstance(value, dict):
            part = _mariadb(value)
        elif key in _MARIADB_OPERATIONS:
            inner = _mariadb(value)
            label = _MARIADB_OPERATIONS[key]
            part = inner if label is None else (f"{label}({inner})" if inner else label)
        elif isinstance(value, dict | list):
            part = _mariadb(value)
        else:
            part = None
        if part:
            parts.append(part)
    return ", ".join(parts) if parts else None
