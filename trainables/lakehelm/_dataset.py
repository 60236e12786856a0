"""Loading one (benchmark, scale) of a LakeHelm-layout data root into a latency table.

Layout: ``<root>/latency/<benchmark>/sf<N>/*.csv`` with the columns
``datalake, engine, query name, conf, latency[(ms)], benchmark, sf`` (read by position, so both header spellings
work), ``<root>/plans/`` with one Spark EXPLAIN file per query and, optionally, ``<root>/stats/``.

Known quirks of the published data, handled here:

- latencies of exactly 1500 ms are timeout artifacts and are dropped; LakeHelm's loader also drops every row under
  1500 ms, which :func:`load_dataset` does by default (``min_latency_ms``) so that ratios compare with theirs;
- the benchmark column mixes ``ssb-flat`` and ``ssb_flat``: the directory name is authoritative and names compare
  with ``_`` and ``-`` treated alike;
- query names carry a per-lake prefix (``tpch_0_q12``); they normalise to ``q12`` (LakeHelm's rule), keeping
  every raw spelling for plan lookup;
- repeated measurements of one (query, engine, lake, config) are reduced to their median.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

TIMEOUT_ARTIFACT_MS = 1500.0
_PREFIXED_QUERY = re.compile(r"^[a-z][\w-]*_\d+_(q\w+)$")


class DatasetError(ValueError):
    """The data root, benchmark or scale is missing, or holds no usable rows."""


def canonical_benchmark(name: str) -> str:
    """``ssb_flat`` and ``ssb-flat`` are one benchmark."""
    return name.strip().lower().replace("_", "-")


def normalise_query_name(raw: str) -> str:
    """LakeHelm's query-name rule: ``<bench>_<n>_q<id>`` -> ``q<id>``; other names are kept."""
    raw = raw.strip()
    m = _PREFIXED_QUERY.match(raw)
    return m.group(1) if m else raw


@dataclass(frozen=True, order=True)
class Combo:
    """An execution combination: a query engine over a data-lake format."""

    engine: str
    lake: str

    def __str__(self) -> str:
        return f"{self.engine}/{self.lake}"


@dataclass
class LatencyDataset:
    """Median latency per measured (query, combo, config) of one benchmark at one scale.

    Records are parallel arrays; ``conf_combo[c]`` is the combo of global config index ``c`` and
    ``conf_text[c]`` its text as written in the CSV.
    """

    root: Path
    benchmark: str
    sf: int
    queries: list[str]
    raw_names: dict[str, list[str]]
    combos: list[Combo]
    conf_combo: np.ndarray
    conf_text: list[str]
    rec_query: np.ndarray
    rec_conf: np.ndarray
    rec_latency_ms: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rec_combo = self.conf_combo[self.rec_conf]
        best = np.full(len(self.queries), np.inf)
        np.minimum.at(best, self.rec_query, self.rec_latency_ms)
        self.best_ms = best
        self.rec_ratio = self.rec_latency_ms / best[self.rec_query]
        order = np.argsort(self.rec_query, kind="stable")
        bounds = np.searchsorted(self.rec_query[order], np.arange(len(self.queries) + 1))
        self._by_query = [order[bounds[i] : bounds[i + 1]] for i in range(len(self.queries))]
        assert np.all(self.rec_ratio >= 1.0 - 1e-9), "ratio below 1: best latency computed wrongly"

    @property
    def engines(self) -> list[str]:
        return sorted({c.engine for c in self.combos})

    @property
    def lakes(self) -> list[str]:
        return sorted({c.lake for c in self.combos})

    def records_of(self, query: int) -> np.ndarray:
        """Indices of the records of query index ``query``."""
        return self._by_query[query]

    def summary(self) -> str:
        return (
            f"{self.benchmark} sf{self.sf}: {len(self.queries)} queries, {len(self.combos)} combos, "
            f"{len(self.conf_text)} configs, {len(self.rec_latency_ms)} measured (query, config) cells"
        )


def available(root: Path) -> dict[str, list[int]]:
    """Benchmarks and scale factors present under ``root/latency``."""
    lat = Path(root) / "latency"
    found: dict[str, list[int]] = {}
    if not lat.is_dir():
        return found
    for bench in sorted(p for p in lat.iterdir() if p.is_dir()):
        sfs = sorted(
            int(p.name[2:]) for p in bench.iterdir() if p.is_dir() and re.fullmatch(r"sf\d+", p.name)
        )
        if sfs:
            found[bench.name] = sfs
    return found


def _bench_dir(root: Path, benchmark: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data directory {root} does not exist; pass --data pointing at a LakeHelm layout")
    if not (root / "latency").is_dir():
        raise DatasetError(f"{root} has no latency/ folder; pass --data pointing at a LakeHelm layout root")
    have = available(root)
    for name in have:
        if canonical_benchmark(name) == canonical_benchmark(benchmark):
            return root / "latency" / name
    raise DatasetError(
        f"unknown benchmark {benchmark!r} in {root}; available: {', '.join(sorted(have)) or 'none'}"
    )


def _parse_latency(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and v > 0 else None


def load_dataset(root: Path, benchmark: str, sf: int, *, min_latency_ms: float = 1500.0) -> LatencyDataset:
    """Reads every CSV of ``benchmark`` at scale ``sf`` into a :class:`LatencyDataset`.

    Raises:
        DatasetError: missing directory, unknown benchmark or scale, or no usable rows.
    """
    bench_dir = _bench_dir(root, benchmark)
    sf_dir = bench_dir / f"sf{sf}"
    if not sf_dir.is_dir():
        scales = available(Path(root))[bench_dir.name]
        raise DatasetError(
            f"no scale factor {sf} for benchmark {bench_dir.name}; available: {', '.join(map(str, scales))}"
        )
    files = sorted(sf_dir.glob("*.csv"))
    if not files:
        raise DatasetError(f"{sf_dir} holds no CSV files")
    cells: dict[tuple[str, Combo, str], list[float]] = defaultdict(list)
    raw_names: dict[str, set[str]] = defaultdict(set)
    dropped = {"timeout_artifact": 0, "below_min_latency": 0, "unparsable_or_zero": 0, "other_benchmark": 0}
    for path in files:
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                if len(row) < 5:
                    dropped["unparsable_or_zero"] += 1
                    continue
                lake, engine, query, conf, lat_text = (s.strip() for s in row[:5])
                if (
                    len(row) > 5
                    and row[5].strip()
                    and canonical_benchmark(row[5]) != canonical_benchmark(bench_dir.name)
                ):
                    dropped["other_benchmark"] += 1
                    continue
                if lat_text.lower().startswith("latency"):
                    continue  # a header repeated inside a concatenated file
                lat = _parse_latency(lat_text)
                if lat is None or not engine or not lake or not query:
                    dropped["unparsable_or_zero"] += 1
                    continue
                if lat == TIMEOUT_ARTIFACT_MS:
                    dropped["timeout_artifact"] += 1
                    continue
                if lat < min_latency_ms:
                    dropped["below_min_latency"] += 1
                    continue
                name = normalise_query_name(query)
                raw_names[name].add(query)
                cells[(name, Combo(engine.lower(), lake.lower()), conf)].append(lat)
    if not cells:
        raise DatasetError(
            f"no usable rows for {bench_dir.name} sf{sf} in {sf_dir} (dropped: {dropped}); "
            "check the CSV columns or lower min_latency_ms"
        )
    queries = sorted(raw_names)
    combos = sorted({c for _, c, _ in cells})
    q_index = {q: i for i, q in enumerate(queries)}
    combo_index = {c: i for i, c in enumerate(combos)}
    conf_keys = sorted({(combo_index[c], conf) for _, c, conf in cells})
    conf_index = {k: i for i, k in enumerate(conf_keys)}
    keys = list(cells)
    ds = LatencyDataset(
        root=Path(root),
        benchmark=bench_dir.name,
        sf=sf,
        queries=queries,
        raw_names={q: sorted(raw_names[q]) for q in queries},
        combos=combos,
        conf_combo=np.array([c for c, _ in conf_keys], dtype=np.int64),
        conf_text=[t for _, t in conf_keys],
        rec_query=np.array([q_index[q] for q, _, _ in keys], dtype=np.int64),
        rec_conf=np.array([conf_index[(combo_index[c], t)] for _, c, t in keys], dtype=np.int64),
        rec_latency_ms=np.array([float(np.median(cells[k])) for k in keys]),
        dropped=dropped,
    )
    logger.info("loaded %s (dropped %s)", ds.summary(), dropped)
    return ds
