"""Spark ``EXPLAIN EXTENDED`` text -> plan trees, and the lookup of a query's plan file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_SECTION = re.compile(r"^==+\s*(.+?)\s*==+\s*$")
_CHILD = re.compile(r"^([ :|]*)(?:\+- |:- )(.*)$")
_OP = re.compile(r"^([A-Za-z][A-Za-z0-9]*)")
_RELATION = re.compile(r"^Relation\s+([\w.`]+)\[")
_RELATION_V2 = re.compile(r"^RelationV2\[.*\]\s+([\w.`]+)\s*$")
_ALIAS = re.compile(r"^SubqueryAlias\s+([\w.`]+)")


@dataclass
class PlanNode:
    """One operator of a logical plan."""

    op: str
    text: str
    children: list[PlanNode] = field(default_factory=list)

    @property
    def table(self) -> str | None:
        """The table a scan reads, without catalog and database."""
        for rx in (_RELATION, _RELATION_V2):
            if m := rx.match(self.text):
                return m.group(1).replace("`", "").split(".")[-1].lower()
        return None

    @property
    def kind(self) -> str:
        """Operator type, with the join type for joins (``Join:Inner``)."""
        if self.op == "Join":
            parts = self.text.split()
            return "Join:" + parts[1].rstrip(",") if len(parts) > 1 else "Join"
        return self.op

    def walk(self) -> list[PlanNode]:
        """Pre-order list of this subtree."""
        out, stack = [], [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


def _section(text: str, wanted: str) -> list[str]:
    lines, inside = [], False
    for line in text.splitlines():
        if m := _SECTION.match(line.strip()):
            if inside:
                break
            inside = m.group(1).lower() == wanted.lower()
            continue
        if inside and line.strip():
            lines.append(line.rstrip())
    return lines


def parse_spark_plan(text: str) -> PlanNode | None:
    """The optimized logical plan of a Spark EXPLAIN text as a tree (None when the text has none).

    Depth comes from the column of the ``+-`` / ``:-`` marker (3 characters a level); lines without a marker
    continue the previous node's text.
    """
    lines = _section(text, "Optimized Logical Plan") or _section(text, "Physical Plan")
    if not lines:
        return None
    root = PlanNode(_op(lines[0]), lines[0].strip())
    stack: list[tuple[int, PlanNode]] = [(0, root)]
    last = root
    for line in lines[1:]:
        m = _CHILD.match(line)
        if not m:
            last.text += " " + line.strip()
            continue
        depth = len(m.group(1)) // 3 + 1
        node = PlanNode(_op(m.group(2)), m.group(2).strip())
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else root
        parent.children.append(node)
        stack.append((depth, node))
        last = node
    return root


def _op(text: str) -> str:
    m = _OP.match(text.strip())
    return m.group(1) if m else "Unknown"


def _squash(s: str) -> str:
    # "query12" and "q12" name the same query.
    return re.sub(r"[^a-z0-9]", "", s.lower()).replace("query", "q")


def find_plan_file(
    plans_dir: Path, benchmark: str, raw_names: list[str], sf: int | None = None
) -> Path | None:
    """The plan file of a query, trying its raw names in turn.

    Tried for each name, in order: ``<bench>_<name>_plan.txt``, ``<bench>_<sf>_<name>_plan.txt``,
    ``<name>_plan.txt``, then a file whose name matches ignoring case, punctuation and the benchmark prefix
    (``q4_2`` ~ ``ssb_Q4.2``), then one ending in ``_<name>``.
    """
    plans_dir = Path(plans_dir)
    if not plans_dir.is_dir():
        return None
    stems = {p.name[: -len("_plan.txt")]: p for p in plans_dir.glob("*_plan.txt")}
    stems |= {p.name[: -len(".sql_plan.txt")]: p for p in plans_dir.glob("*.sql_plan.txt")}
    prefixes = sorted({benchmark, benchmark.replace("-", "_"), benchmark.replace("_", "-")})
    for raw in raw_names:
        for cand in [f"{b}_{raw}" for b in prefixes] + [f"{b}_{sf}_{raw}" for b in prefixes] + [raw]:
            if cand in stems:
                return stems[cand]
    squashed_prefixes = sorted({_squash(b) for b in prefixes}, key=len, reverse=True)
    index: dict[str, Path] = {}
    for stem, path in sorted(stems.items()):
        s = _squash(stem)
        for b in squashed_prefixes:
            if s.startswith(b):
                index.setdefault(s[len(b) :], path)
                break
    for raw in raw_names:
        s = _squash(raw)
        for key in [s] + [s[len(b) :] for b in squashed_prefixes if s.startswith(b)]:
            if (hit := index.get(key)) is not None:
                return hit
    for raw in raw_names:
        ends = sorted(p for stem, p in stems.items() if stem.endswith("_" + raw))
        if ends:
            return ends[0]
    return None
