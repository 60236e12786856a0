from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.trainables.conftest import N_QUERIES
from trainables.lakehelm import Combo, DatasetError, available, load_dataset, normalise_query_name


def test_query_names_normalise_like_lakehelm() -> None:
    assert normalise_query_name("tpch_0_q12") == "q12"
    assert normalise_query_name("ssb-flat_3_q4_1") == "q4_1"
    assert normalise_query_name("db7") == "db7"
    assert normalise_query_name("query23_a") == "query23_a"


def test_load_handles_the_quirks(lakehelm_root: Path) -> None:
    assert available(lakehelm_root) == {"toy": [1]}
    ds = load_dataset(lakehelm_root, "toy", 1)
    assert len(ds.queries) == N_QUERIES  # toy_0_q3 and q3 are one query
    assert ds.combos == sorted(Combo(e, lake) for e in ("spark", "trino") for lake in ("delta", "iceberg"))
    assert ds.dropped["timeout_artifact"] == 4 * N_QUERIES
    assert ds.dropped["below_min_latency"] == 4 * N_QUERIES
    assert ds.dropped["unparsable_or_zero"] == 4 * N_QUERIES
    assert ds.dropped["other_benchmark"] == 0  # toy_... spelling variants are the same benchmark
    assert len(ds.rec_latency_ms) == N_QUERIES * 4 * 8  # one cell per (query, combo, config)
    # ratios: 1 at each query's optimum, never below
    assert np.all(ds.rec_ratio >= 1)
    for q in range(len(ds.queries)):
        assert ds.rec_ratio[ds.records_of(q)].min() == pytest.approx(1.0)


def test_repeats_reduce_to_their_median(lakehelm_root: Path) -> None:
    ds = load_dataset(lakehelm_root, "toy", 1)
    q0 = ds.queries.index("q0")
    recs = ds.records_of(q0)
    spark_delta = ds.combos.index(Combo("spark", "delta"))
    first = [r for r in recs if ds.rec_combo[r] == spark_delta and ds.conf_text[ds.rec_conf[r]] == "4;1g|1"]
    assert len(first) == 1  # the repeated row merged; the 1500/900/0 rows dropped
    lat = ds.rec_latency_ms[first[0]]
    assert 3000 * 1.8 * 1.15 < lat < 3000 * 1.8 * 1.3  # median of x and 1.2x


def test_min_latency_can_be_lowered(lakehelm_root: Path) -> None:
    ds = load_dataset(lakehelm_root, "toy", 1, min_latency_ms=0)
    assert ds.dropped["below_min_latency"] == 0
    assert ds.dropped["timeout_artifact"] == 4 * N_QUERIES  # exactly 1500 is still an artifact


@pytest.mark.parametrize(
    ("bench", "sf", "message"),
    [
        ("nope", 1, "unknown benchmark 'nope'"),
        ("toy", 7, "no scale factor 7 for benchmark toy; available: 1"),
    ],
)
def test_bad_benchmark_or_scale(lakehelm_root: Path, bench: str, sf: int, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_dataset(lakehelm_root, bench, sf)


def test_missing_or_empty_data(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "absent", "toy", 1)
    with pytest.raises(DatasetError, match="no latency/ folder"):
        load_dataset(tmp_path, "toy", 1)
    sf_dir = tmp_path / "latency" / "toy" / "sf1"
    sf_dir.mkdir(parents=True)
    with pytest.raises(DatasetError, match="holds no CSV"):
        load_dataset(tmp_path, "toy", 1)
    (sf_dir / "toy_a_b_sf1.csv").write_text("datalake,engine,query name,conf,latency,benchmark,sf\n")
    with pytest.raises(DatasetError, match="no usable rows"):
        load_dataset(tmp_path, "toy", 1)
