"""The Parquet trial store (pure file I/O)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from raytune.records import TrialRecord
from raytune.storage import SCHEMA, TrialStore


def test_append_is_idempotent_and_round_trips(tmp_path: Path) -> None:
    store = TrialStore(tmp_path)
    rec = TrialRecord(
        trial_id="t1",
        engine="postgres",
        objective=1.5,
        config={"work_mem": "64MB"},
        plans={"q01": [{"Plan": {}}]},
        instance={"node_id": "n", "index": 1},
        started_at=10.0,
    )
    store.append(rec, score=1.5, optimizer="hebo")
    store.append(rec, score=1.5, optimizer="hebo")  # a retried write replaces, never duplicates
    other = TrialRecord(trial_id="t2", engine="postgres", started_at=5.0).fail("server exited")
    store.append(other, score=3.0, optimizer="hebo", baseline="default")
    rows = store.rows()
    assert [r["trial_id"] for r in rows] == ["t2", "t1"] and len(store) == 2
    t1 = rows[1]
    assert t1["config"] == {"work_mem": "64MB"} and t1["instance"] == {"node_id": "n", "index": 1}
    assert t1["plans_ref"] == "plans/t1.json" and (tmp_path / "plans" / "t1.json").exists()
    assert (
        rows[0]["status"] == "REJECTED" and rows[0]["objective"] is None and rows[0]["baseline"] == "default"
    )


def test_files_follow_the_documented_schema(tmp_path: Path) -> None:
    path = TrialStore(tmp_path).append(TrialRecord(trial_id="x"), score=None, optimizer="random")
    assert pq.read_schema(path).names == SCHEMA.names
    assert TrialStore(tmp_path / "empty").rows() == []


def test_compact_merges_into_one_file_and_a_later_row_wins(tmp_path: Path) -> None:
    store = TrialStore(tmp_path)
    for i in range(5):
        store.append(TrialRecord(trial_id=f"t{i}", engine="berkeleydb", objective=float(i), started_at=i),
                     score=float(i), optimizer="configs")  # fmt: skip
    before = store.rows()
    assert store.compact() == 5 and len(store) == 5
    assert [p.name for p in store.dataset_dir.iterdir()] == ["trial-0-compacted.parquet"]
    assert store.rows() == before
    store.append(TrialRecord(trial_id="t2", engine="berkeleydb", objective=9.0, started_at=2),
                 score=9.0, optimizer="configs")  # fmt: skip
    assert [r["objective"] for r in store.rows()] == [0.0, 1.0, 9.0, 3.0, 4.0]
    assert store.compact() == 5 and [r["objective"] for r in store.rows()][2] == 9.0
    assert TrialStore(tmp_path / "empty").compact() == 0
