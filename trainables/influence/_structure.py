"""The structure of an influence diagram as data: decisions (knobs), observed roots (workload characteristics),
chance nodes (continuous, discretized by MDL; or discrete, such as a layout that the decisions determine) and
value nodes (per-transaction losses), with the invariants of the thesis's section 5.1 checked in code."""

from __future__ import annotations

import enum
import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from raytune.errors import KnobrayError


class NodeKind(enum.StrEnum):
    ROOT = "root"  # an observed workload characteristic (continuous)
    DECISION = "decision"  # a knob with a fixed discrete domain
    DISCRETE = "discrete"  # a chance node with discrete values (e.g. a layout fact the decisions determine)
    CHANCE = "chance"  # a continuous chance node
    VALUE = "value"  # a loss per transaction


@dataclass(frozen=True)
class Node:
    """One node: its kind, its parents, and for a decision its states in order (the first is the default).

    ``shared`` (value nodes only): parents whose effect on the value is additive, one effect per state shared
    by every instantiation of the other parents and so estimated from all runs (``InfluenceModel``), where a
    full table would estimate it again in each sparsely populated cell."""

    name: str
    kind: NodeKind
    parents: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()


@dataclass(frozen=True)
class Structure:
    """A regular influence diagram: acyclic, value nodes without children, decisions on one directed path.

    Raises:
        KnobrayError: A broken invariant, named.
    """

    nodes: tuple[Node, ...]
    decision_order: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise KnobrayError("influence diagram: node names must be unique")
        by_name = {n.name: n for n in self.nodes}
        for n in self.nodes:
            for p in n.parents:
                if p not in by_name:
                    raise KnobrayError(f"influence diagram: {n.name} has an unknown parent {p}")
                if by_name[p].kind is NodeKind.VALUE:
                    raise KnobrayError(f"influence diagram: value node {p} cannot have a child ({n.name})")
            if n.kind in (NodeKind.ROOT, NodeKind.DECISION) and n.parents:
                raise KnobrayError(f"influence diagram: {n.kind.value} {n.name} cannot have parents")
            if n.shared and (n.kind is not NodeKind.VALUE or not set(n.shared) < set(n.parents)):
                raise KnobrayError(
                    f"influence diagram: {n.name}'s shared parents must be some, not all, of a value node's parents"
                )
            if n.kind is NodeKind.DECISION and len(n.states) < 2:
                raise KnobrayError(f"influence diagram: decision {n.name} needs at least two states")
        self.topological_order()  # raises on a cycle
        if sorted(self.decision_order) != sorted(self.names(NodeKind.DECISION)):
            raise KnobrayError("influence diagram: decision_order must list every decision once")
        if not self.names(NodeKind.VALUE):
            raise KnobrayError("influence diagram: at least one value node is needed")

    def __getitem__(self, name: str) -> Node:
        return self._by_name()[name]

    def _by_name(self) -> Mapping[str, Node]:
        return {n.name: n for n in self.nodes}

    def names(self, *kinds: NodeKind) -> list[str]:
        return [n.name for n in self.nodes if n.kind in kinds]

    def children(self, name: str) -> list[str]:
        return [n.name for n in self.nodes if name in n.parents]

    def topological_order(self) -> list[str]:
        """Parents before children.

        Raises:
            KnobrayError: The structure has a cycle.
        """
        indegree = {n.name: len(n.parents) for n in self.nodes}
        ready = deque(n for n, d in indegree.items() if d == 0)
        order: list[str] = []
        while ready:
            name = ready.popleft()
            order.append(name)
            for child in self.children(name):
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) != len(self.nodes):
            raise KnobrayError("influence diagram: the structure has a cycle")
        return order

    def distance_to_value(self, name: str) -> int:
        """l(n): the length of the shortest directed path from ``name`` to a value node (large if none)."""
        seen, frontier, depth = {name}, [name], 0
        while frontier:
            if any(self[n].kind is NodeKind.VALUE for n in frontier):
                return depth
            frontier = [c for n in frontier for c in self.children(n) if c not in seen]
            seen.update(frontier)
            depth += 1
        return 1_000_000

    def markov_blanket(self, name: str) -> set[str]:
        """Parents, children and the children's other parents."""
        node = self[name]
        blanket = set(node.parents)
        for child in self.children(name):
            blanket.add(child)
            blanket.update(self[child].parents)
        blanket.discard(name)
        return blanket


# ----- Berkeley DB: the thesis's final model (F4.2 without def_leaf_loc and leaf_loc_rate) --------------------
MIX = ("concurrency", "pct_cursors", "items_curs", "items_non_curs", "pct_updates", "pct_writes_upd",
       "def_page_loc", "size_loc")  # fmt: skip
DECISIONS: dict[str, tuple[str, ...]] = {
    "page_size": ("8192", "2048"),
    "min_keys": ("2", "4/16"),  # "4/16": 4 with 2K pages, 16 with 8K (the thesis's symmetric workaround)
    "db_rmw": ("off", "on"),
    "deadlock_policy": ("random", "minlocks", "minwrite", "youngest"),
}
# The 32 combinations of the decisions' states, the default (every first state) first.
COMBINATIONS: tuple[dict[str, str], ...] = tuple(
    dict(zip(DECISIONS, c, strict=True)) for c in itertools.product(*DECISIONS.values())
)


# Structure variants of the Berkeley DB diagram, chosen among on validation workloads (the first is the thesis's):
# "shared-policy" makes the deadlock policy's effect on the waits one additive effect per policy (``Node.shared``)
# instead of a column of the waits node's 128-configuration table; "shared-policy-deadlocks" adds a value node,
# deadlocks per committed transaction (each aborts and retries a transaction), with the waits node's parents;
# "shared-knobs" and "shared-knobs-deadlocks" share both knob parents of those nodes (DB_RMW and the policy: one
# additive effect per pair, the same for every workload); "shared-pages" and "shared-pages-deadlocks" make the
# page size a parent of those nodes too, shared with the policy: in the thesis's structure page size reaches the
# waits only through the share of the locality set a transaction touches, which MDL can leave in one bin;
# "conflicts" and "conflicts-deadlocks" give those nodes one workload parent for lock contention, a chance node
# ``conflicts`` = concurrency x pct_wlocks x pct_loc_txn / 100 (x 100: how many concurrent transactions
# write-lock a page of the share of the locality set one transaction touches; page size enters through
# pct_loc_txn), beside leaves_txn and oflw_txn, with the knobs shared as in "shared-knobs": MDL can cut one
# product finely where it leaves each factor of a seven-parent table in one or two bins.
VARIANTS = ("thesis", "shared-policy", "shared-policy-deadlocks", "shared-knobs", "shared-knobs-deadlocks",
            "shared-pages", "shared-pages-deadlocks", "conflicts", "conflicts-deadlocks")  # fmt: skip


def berkeleydb_structure(value_nodes: str = "misses", variant: str = VARIANTS[0]) -> Structure:
    """The thesis's final Berkeley DB diagram. ``value_nodes="misses"`` makes memory-pool misses per
    transaction the I/O loss (the database fits in the OS page cache here, so page faults are ~0: the thesis's
    own rule in section 4.4.2); ``"faults"`` keeps faults/txn with the thesis's parents. ``variant``: one of
    ``VARIANTS``.

    Raises:
        KnobrayError: An unknown ``value_nodes`` or ``variant``.
    """
    if variant not in VARIANTS:
        raise KnobrayError(f"structure variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
    layout = ("page_size", "min_keys")
    nodes = [Node(m, NodeKind.ROOT) for m in MIX]
    nodes += [Node(d, NodeKind.DECISION, (), states) for d, states in DECISIONS.items()]
    nodes += [Node(x, NodeKind.DISCRETE, layout) for x in ("leaves", "overflows", "db_size")]
    nodes += [
        Node("leaves_txn", NodeKind.CHANCE, ("items_curs", "items_non_curs", "pct_cursors", "leaves")),
        Node("oflw_txn", NodeKind.CHANCE, ("items_curs", "items_non_curs", "pct_cursors", "size_loc", "overflows")),
        Node("pages_txn", NodeKind.CHANCE, ("leaves_txn", "oflw_txn")),
        Node("page_loc", NodeKind.CHANCE, ("def_page_loc", *layout)),
        Node("loc_size", NodeKind.CHANCE, ("page_loc", "leaves", "page_size")),
        Node("loc_rate", NodeKind.CHANCE, ("leaves_txn", "oflw_txn")),
        Node("pct_loc_txn", NodeKind.CHANCE, ("leaves_txn", "page_loc", "leaves")),
        Node("pct_writes", NodeKind.CHANCE, ("pct_updates", "pct_writes_upd")),
        Node("pct_wlocks", NodeKind.CHANCE, ("pct_updates", "pct_writes_upd", "db_rmw")),
    ]  # fmt: skip
    waits = (
        "pct_loc_txn",
        "oflw_txn",
        "pct_wlocks",
        "leaves_txn",
        "concurrency",
        "db_rmw",
        "deadlock_policy",
    )
    if value_nodes == "misses":
        nodes.append(Node("misses_txn", NodeKind.VALUE, ("pages_txn", "loc_rate", "loc_size", "db_size")))
    elif value_nodes == "faults":
        nodes.append(Node("misses_txn", NodeKind.CHANCE, ("pages_txn", "loc_rate", "loc_size", "db_size")))
        nodes.append(Node("faults_txn", NodeKind.VALUE, ("misses_txn", "db_size", "pct_writes", "page_size")))
    else:
        raise KnobrayError(f"value_nodes must be misses or faults, not {value_nodes!r}")
    shared = {
        "thesis": (),
        "shared-policy": ("deadlock_policy",),
        "shared-knobs": ("db_rmw", "deadlock_policy"),
        "shared-pages": ("page_size", "deadlock_policy"),
        "conflicts": ("db_rmw", "deadlock_policy"),
    }[variant.removesuffix("-deadlocks")]
    if variant.removesuffix("-deadlocks") == "conflicts":
        nodes.append(Node("conflicts", NodeKind.CHANCE, ("concurrency", "pct_wlocks", "pct_loc_txn")))
        waits = ("conflicts", "oflw_txn", "leaves_txn")
    waits += tuple(p for p in shared if p not in waits)
    nodes.append(Node("waits_txn", NodeKind.VALUE, waits, shared=shared))
    if variant.endswith("-deadlocks"):
        nodes.append(Node("deadlocks_txn", NodeKind.VALUE, waits, shared=shared))
    return Structure(tuple(nodes), tuple(DECISIONS))
