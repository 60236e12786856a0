"""db_perf: the transactional workload generator of Sullivan's thesis (section 6) for Berkeley DB.

A workload is a :class:`TxnMix` of eight characteristics; :func:`sample_mix` draws them from the mixture
distributions of the thesis's table 7.1. The database (:class:`ItemSpace`) holds items with 6-byte keys built
from three slots (a, b, c): the second slot ``b`` (0-99) places an item in the workload's locality set
(``b < def_page_loc``), and every 7th value of the third slot makes a large item (~450 bytes, overflowing under
small pages or high min_keys; the others ~100 bytes). Four keygroups follow: locality/non-locality x small/large,
with 90% of accesses to the locality set and ``size_loc`` % to large items.

Scale: the thesis's 490,000 items and 64 MB cache ran 14 minutes per run on a 333 MHz machine. Here ``sf`` 1 is
24,500 items (1/20) with a cache of about half the database under the default layout (as there), and a run lasts
until steady state: samples every 2 seconds, stable when the last 5 samples of throughput, misses/txn, faults/txn and
dirty evictions/txn each have an SD under 5% of their mean or under 0.01 (section 6.3), or until the duration limit.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune.errors import WorkloadError
from raytune.workloads._base import Workload, WorkloadKind

if TYPE_CHECKING:
    from raytune.engines import EngineInstance

A_PER_SF, B_SLOTS, C_SLOTS = 5, 100, 49  # items = a x b x c: 24,500 per unit of sf
LARGE_EVERY = 7  # every 7th value of slot c is a large item
CACHE_BYTES_PER_ITEM = 86  # 2 MiB per 24,500 items: about half the database under (8K pages, min_keys 2)
CLIENTS = ("native", "python")  # transaction threads in a C process, or in the trial's Python process
LOCALITY_SHARE = 0.9  # def_leaf_loc: fixed at 90% in the thesis (and removed from its final model)


@dataclass(frozen=True)
class TxnMix:
    """The workload characteristics (the influence diagram's root chance nodes), all observable.

    Attributes:
        concurrency: Concurrent transaction threads.
        pct_cursors: % of transactions that read through a cursor.
        items_curs: Mean items per cursor transaction.
        items_non_curs: Mean items per non-cursor transaction.
        pct_updates: % of update transactions (they read items and may write them).
        pct_writes_upd: % of the items an update transaction reads that it writes.
        def_page_loc: % of leaf pages in the locality set (under the default layout).
        size_loc: % of accesses that go to large items.
    """

    concurrency: int
    pct_cursors: float
    items_curs: float
    items_non_curs: float
    pct_updates: float
    pct_writes_upd: float
    def_page_loc: float
    size_loc: float

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 1000:
            raise WorkloadError(f"concurrency must be 1..1000 threads, got {self.concurrency}")
        for name in ("pct_cursors", "pct_updates", "pct_writes_upd", "size_loc"):
            if not 0 <= getattr(self, name) <= 100:
                raise WorkloadError(f"{name} is a percentage: 0..100, got {getattr(self, name)}")
        if not 1 <= self.def_page_loc <= 99:
            raise WorkloadError(
                f"def_page_loc must be 1..99 (% of pages in the locality set), got {self.def_page_loc}"
            )
        for name in ("items_curs", "items_non_curs"):
            if not 1 <= getattr(self, name) <= 10_000:
                raise WorkloadError(
                    f"{name} must be 1..10000 items per transaction, got {getattr(self, name)}"
                )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str = "the mix") -> TxnMix:
        """A mix from a mapping of the eight characteristics.

        Raises:
            WorkloadError: Not a mapping, a missing or unknown characteristic, or a value out of range.
        """
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict):
            raise WorkloadError(f"{source} must be a JSON object with {', '.join(names)}")
        unknown = sorted(set(data) - set(names))
        missing = [n for n in names if n not in data]
        if unknown or missing:
            what = f"unknown {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
            raise WorkloadError(f"{source}: {what}; a mix has exactly {', '.join(names)}")
        try:
            values = {n: float(data[n]) for n in names}
        except (TypeError, ValueError):
            raise WorkloadError(f"{source}: every characteristic must be a number") from None
        return cls(**{**values, "concurrency": int(round(values["concurrency"]))})

    @classmethod
    def load(cls, path: Path) -> TxnMix:
        """A mix from a JSON file.

        Raises:
            WorkloadError: Unreadable file, bad JSON or a bad mix.
        """
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise WorkloadError(f"cannot read the mix file {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise WorkloadError(f"mix file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
        return cls.from_dict(data, f"mix file {path}")


# (probability, mean, sd) components of each characteristic: the thesis's table 7.1 (sd 0: a constant).
MIXTURES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "concurrency": ((1 / 3, 10, 2), (1 / 3, 40, 5), (1 / 3, 100, 10)),
    "pct_cursors": ((2 / 3, 0, 0), (1 / 3, 20, 3)),
    "items_curs": ((1 / 2, 50, 5), (1 / 2, 100, 10)),
    "items_non_curs": ((1 / 3, 10, 2), (2 / 3, 40, 5)),
    "pct_updates": ((1 / 2, 30, 5), (1 / 2, 75, 5)),
    "pct_writes_upd": ((1 / 3, 10, 2), (1 / 3, 50, 5), (1 / 3, 100, 0)),
    "def_page_loc": ((1 / 4, 10, 2), (1 / 4, 50, 5), (1 / 2, 90, 1)),
    "size_loc": ((2 / 3, 3, 1), (1 / 3, 20, 3)),
}
_BOUNDS = {
    "concurrency": (1, 1000),
    "items_curs": (1, 10_000),
    "items_non_curs": (1, 10_000),
    "def_page_loc": (1, 99),
}


DEFAULT_MIX = TxnMix(
    concurrency=10, pct_cursors=0, items_curs=50, items_non_curs=10, pct_updates=30, pct_writes_upd=50,
    def_page_loc=50, size_loc=3,
)  # fmt: skip


def parse_mix(text: str | Path | None) -> TxnMix:
    """The mix ``--mix`` names: a JSON file, ``random:SEED`` (drawn by :func:`sample_mix`), or none (the default
    mix: 10 threads, no cursors, 10 items per transaction, 30% updates writing half their items).

    Raises:
        WorkloadError: A bad seed, file or mix.
    """
    if text is None:
        return DEFAULT_MIX
    spec = str(text)
    if spec.startswith("random:"):
        seed = spec.partition(":")[2]
        if not seed.lstrip("-").isdigit():
            raise WorkloadError(f"--mix {spec}: the seed must be an integer, e.g. random:7")
        return sample_mix(random.Random(int(seed)))
    return TxnMix.load(Path(spec))


def sample_mix(rng: random.Random) -> TxnMix:
    """A random workload: each characteristic from a component of its mixture chosen with its probability,
    rounded to one decimal (as the thesis's candidate cutoffs assume) and clipped to its range."""
    values: dict[str, float] = {}
    for name, components in MIXTURES.items():
        weights = [p for p, _, _ in components]
        _, mean, sd = rng.choices(components, weights=weights)[0]
        lo, hi = _BOUNDS.get(name, (0, 100))
        values[name] = float(min(hi, max(lo, round(rng.gauss(mean, sd) if sd else mean, 1))))
    return TxnMix(**{**values, "concurrency": int(round(values["concurrency"]))})


@dataclass(frozen=True)
class ItemSpace:
    """The database's items: keys ``aabbcc`` (decimal slots), values of a fixed pseudo-random size."""

    sf: float = 1.0

    @property
    def a_slots(self) -> int:
        return max(1, round(A_PER_SF * self.sf))

    @property
    def items(self) -> int:
        return self.a_slots * B_SLOTS * C_SLOTS

    @property
    def large_items(self) -> int:
        return self.a_slots * B_SLOTS * (C_SLOTS // LARGE_EVERY)

    @staticmethod
    def key(a: int, b: int, c: int) -> bytes:
        return b"%02d%02d%02d" % (a, b, c)

    @staticmethod
    def c_slot(key: bytes) -> int:
        """The ``c`` slot of a key: its last two digits (the ``a`` slot takes three from 100 on)."""
        return int(key[-2:])

    @staticmethod
    def is_large(c: int) -> bool:
        return c % LARGE_EVERY == LARGE_EVERY - 1

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        """Every item in key order, with its value (the same on every build)."""
        rng = random.Random(0)
        for a in range(self.a_slots):
            for b in range(B_SLOTS):
                for c in range(C_SLOTS):
                    size = round(rng.gauss(450, 10) if self.is_large(c) else rng.gauss(100, 5))
                    yield self.key(a, b, c), b"v" * max(1, size)


class EmbeddedWorkload(Workload):
    """A workload that runs inside the trial's process against an embedded engine (no client program)."""

    kind = WorkloadKind.OLTP
    writes = True

    def configure(self, instance: EngineInstance) -> None:
        """Sets what the workload fixes on the instance before it opens (e.g. the cache size)."""

    def run(
        self, instance: EngineInstance, *, duration_s: float, on_sample: Callable[[float], None] | None = None
    ) -> DbPerfResult:
        raise NotImplementedError


@dataclass(frozen=True)
class DbPerfResult:
    """One run: throughput and latency over the last window, the per-second samples and their steady-state check
    (``raytune.measurement.OltpResult``), per-transaction statistics over that window, and (from a client in
    another process, whose environment the trial's snapshots cannot see) the environment's counters over the
    whole run."""

    oltp: Any  # raytune.measurement.OltpResult
    per_txn: dict[str, float]
    metrics: dict[str, float] | None = (
        None  # the engine's counters over the run, when no snapshot can take them
    )


class DbPerfWorkload(EmbeddedWorkload):
    """The db_perf generator running one :class:`TxnMix` on a Berkeley DB instance."""

    name = "dbperf"

    def __init__(
        self, mix: TxnMix, sf: float = 1.0, seed: int = 0, client: str = "native", client_cpus: int | None = 1
    ) -> None:
        if client not in CLIENTS:
            raise WorkloadError(f"unknown dbperf client {client!r}; use one of: {', '.join(CLIENTS)}")
        if client_cpus is not None and client_cpus < 1:
            raise WorkloadError(f"client_cpus must be at least 1 (or None: every CPU), got {client_cpus}")
        self.mix = mix
        self.space = ItemSpace(sf)
        self.seed = seed
        self.client = client
        self.client_cpus = client_cpus

    def data_key(self) -> str:
        return f"dbperf-{self.space.items}"

    def check(self, engine: str) -> None:
        if engine != "berkeleydb":
            raise WorkloadError(f"workload dbperf runs on berkeleydb only, not {engine}")

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "mix": self.mix.to_dict(),
            "items": self.space.items,
            "client": self.client,
            "client_cpus": self.client_cpus,
        }

    def configure(self, instance: EngineInstance) -> None:
        instance.cache_bytes = CACHE_BYTES_PER_ITEM * self.space.items  # type: ignore[attr-defined]
        if self.client == "native":
            from raytune.workloads._dbperf_native import native_binary

            native_binary()  # built before any trial: a failed build is the machine's, not a configuration's

    def load(self, instance: EngineInstance) -> None:
        instance.load_items(self.space.pairs())  # type: ignore[attr-defined]

    def run(
        self, instance: EngineInstance, *, duration_s: float, on_sample: Callable[[float], None] | None = None
    ) -> DbPerfResult:
        from raytune.workloads._dbperf_run import run_mix, run_native

        run = run_native if self.client == "native" else run_mix
        return run(self, instance, duration_s=duration_s, on_sample=on_sample)


def leaves_spanned(items: int, items_per_leaf: float) -> float:
    """Expected leaf pages a cursor reading ``items`` consecutive items visits, from a random start."""
    return 1.0 + (items - 1) / max(items_per_leaf, 1.0) if items > 0 else 0.0


def locality_slots(mix: TxnMix) -> int:
    """Values of the second key slot in the locality set."""
    return min(B_SLOTS - 1, max(1, math.floor(mix.def_page_loc + 0.5)))


class TxnCounters:
    """One thread's counts (summed by the sampler; each thread writes only its own)."""

    __slots__ = ("commits", "retries", "read", "written", "overflow", "leaves", "latency_ms")

    def __init__(self) -> None:
        self.commits = self.retries = self.read = self.written = self.overflow = 0
        self.leaves = 0.0
        self.latency_ms: list[float] = []
