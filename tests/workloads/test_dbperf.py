"""The db_perf generator: mixes follow the thesis's mixture distributions, bad mixes get one-line errors, and
a run on real Berkeley DB reaches steady state with per-transaction statistics that match the mix."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pytest

from raytune.errors import WorkloadError
from raytune.trial import MeasureSettings, TrialRunner
from raytune.workloads import (
    MIXTURES,
    DbPerfWorkload,
    ItemSpace,
    TxnMix,
    make_workload,
    parse_mix,
    sample_mix,
)

N = 3000


@pytest.fixture(scope="module")
def mixes() -> list[TxnMix]:
    rng = random.Random(42)
    return [sample_mix(rng) for _ in range(N)]


def _component_of(value: float, components: tuple[tuple[float, float, float], ...]) -> int:
    """The component a value most likely came from (the thesis's components are far apart)."""
    return min(
        range(len(components)), key=lambda i: abs(value - components[i][1]) / max(components[i][2], 1.0)
    )


@pytest.mark.parametrize("name", sorted(MIXTURES))
def test_characteristics_follow_their_mixtures(mixes: list[TxnMix], name: str) -> None:
    components = MIXTURES[name]
    values = [float(getattr(m, name)) for m in mixes]
    chosen = [_component_of(v, components) for v in values]
    for i, (p, mean, sd) in enumerate(components):
        members = [v for v, c in zip(values, chosen, strict=True) if c == i]
        share = len(members) / N
        assert abs(share - p) < 4 * (p * (1 - p) / N) ** 0.5 + 0.005, (
            f"{name} component {i}: {share:.3f} vs {p:.3f}"
        )
        assert abs(statistics.fmean(members) - mean) < max(0.15 * sd, 0.1), f"{name} component {i} mean"
        if sd:
            assert 0.8 * sd < statistics.stdev(members) < 1.2 * sd, f"{name} component {i} sd"
        else:
            assert set(members) == {mean}


def test_items_split_into_keygroups() -> None:
    space = ItemSpace(sf=0.2)
    pairs = list(space.pairs())
    keys = [k for k, _ in pairs]
    assert len(pairs) == space.items == 4900 and keys == sorted(keys) and all(len(k) == 6 for k in keys)
    large = [len(v) for k, v in pairs if ItemSpace.is_large(ItemSpace.c_slot(k))]
    small = [len(v) for k, v in pairs if not ItemSpace.is_large(ItemSpace.c_slot(k))]
    assert len(large) == space.large_items == space.items // 7
    assert 440 < statistics.fmean(large) < 460 and 95 < statistics.fmean(small) < 105


def test_c_slot_reads_the_last_two_digits_at_any_scale() -> None:
    assert [ItemSpace.c_slot(ItemSpace.key(a, 7, 48)) for a in (0, 99, 100, 1234)] == [48] * 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "JSON object"),
        ({"concurrency": 10}, "missing"),
        ({**TxnMix(10, 0, 50, 10, 30, 50, 50, 3).to_dict(), "threads": 4}, "unknown threads"),
        (
            {**TxnMix(10, 0, 50, 10, 30, 50, 50, 3).to_dict(), "pct_updates": 130},
            "pct_updates is a percentage",
        ),
        ({**TxnMix(10, 0, 50, 10, 30, 50, 50, 3).to_dict(), "concurrency": 0}, "concurrency"),
        ({**TxnMix(10, 0, 50, 10, 30, 50, 50, 3).to_dict(), "size_loc": "lots"}, "must be a number"),
    ],
)
def test_bad_mixes_get_one_line_errors(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(data))
    with pytest.raises(WorkloadError, match=message) as err:
        parse_mix(str(path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "dbperf", "mix": "random:x"}, "seed must be an integer"),
        ({"name": "dbperf", "mix": "/nonexistent/mix.json"}, "cannot read the mix file"),
        ({"name": "tpch", "mix": "random:1"}, "--mix applies to dbperf"),
    ],
)
def test_bad_workload_inputs(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        make_workload(sf=0.2, cache_dir=tmp_path, **kwargs)


def test_engines_refuse_workloads_they_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(
        WorkloadError, match="runs SQL, which berkeleydb does not have; use --workload dbperf"
    ):
        make_workload("tpch", sf=0.01, cache_dir=tmp_path).check("berkeleydb")
    with pytest.raises(WorkloadError, match="dbperf runs on berkeleydb only"):
        make_workload("dbperf", sf=0.2, cache_dir=tmp_path).check("postgres")


def test_random_mixes_are_reproducible() -> None:
    assert parse_mix("random:7") == parse_mix("random:7") != parse_mix("random:8")


@pytest.mark.slow
@pytest.mark.isolated  # beside the parallel suite, the native client's 2 threads can go 150 s without a stable window
@pytest.mark.parametrize("client", ["native", "python"])
def test_a_run_reaches_steady_state_with_statistics_that_match_its_mix(client: str) -> None:
    mix = TxnMix(concurrency=2, pct_cursors=20, items_curs=50, items_non_curs=10, pct_updates=30,
                 pct_writes_upd=50, def_page_loc=50, size_loc=20)  # fmt: skip
    workload = DbPerfWorkload(mix, sf=0.2, client=client, client_cpus=None)
    # Alone, a stable window usually comes within 10-20 s; the limit leaves room for a burst of background CPU.
    with TrialRunner("berkeleydb", workload, settings=MeasureSettings(duration_s=150)) as runner:
        record = runner.run({"page_size": "2048", "min_keys": 4})
    assert record.status.name == "SUCCEEDED", record.error
    assert record.oltp["steady"]["stable"], record.oltp["samples_tps"]
    assert record.objective == pytest.approx(record.oltp["steady"]["window_mean"])
    per_txn = record.summary["per_txn"]
    # items per transaction: 20% cursor transactions of ~50 items, 80% of ~10
    assert per_txn["items_read"] == pytest.approx(0.2 * 50 + 0.8 * 10, rel=0.15)
    assert per_txn["items_written"] == pytest.approx(0.3 * 0.5 * per_txn["items_read"], rel=0.25)
    # (2K, 4) overflows the large items: ~20% of the non-cursor accesses and 1 in 7 of the cursor ones
    assert per_txn["overflows"] == pytest.approx(0.8 * 10 * 0.2 + 0.2 * 50 / 7, rel=0.3)
    assert per_txn["layout.overflow_large"] == 1.0 and per_txn["layout.page_size"] == 2048
    assert per_txn["page_gets"] > per_txn["items_read"] and per_txn["misses"] >= 0
    assert record.workload["mix"] == mix.to_dict() and record.workload["client"] == client
    assert record.oltp["p95_ms"] > 0 and record.metrics["mpool.cache_hit"] > 0
