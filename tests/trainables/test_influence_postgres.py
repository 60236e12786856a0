"""The influence diagram on PostgreSQL, learned from the shipped corpus (real measurements): knob levels, the
structure, weights with the expected signs, and a recommendation for a workload left out of training."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.corpus import Corpus
from raytune.errors import KnobrayError
from raytune.trial import validate_config
from trainables.dann import WorkloadInput
from trainables.influence._postgres import (
    PG_DECISIONS,
    fit_postgres_diagram,
    level_config,
    levels,
    postgres_structure,
    recommend_postgres,
)

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
DOMAIN = "postgres/1cpu-11.8g"
GIB = 1024**3


def test_levels_and_their_configurations() -> None:
    memory = 11.8 * GIB
    assert levels({}, memory) == {d: "default" for d in PG_DECISIONS}
    assert levels({"shared_buffers": 16384 * 8, "work_mem": 65536, "random_page_cost": 1.1,
                   "max_parallel_workers_per_gather": 0}, memory) == {
        "shared_buffers": "mid", "work_mem": "mid", "random_page_cost": "low", "max_parallel_workers_per_gather": "off"}  # fmt: skip
    for states in ({"shared_buffers": "high", "work_mem": "high", "random_page_cost": "low",
                    "max_parallel_workers_per_gather": "off"}, {d: "default" for d in PG_DECISIONS}):  # fmt: skip
        config = level_config(states, memory)
        native = validate_config("postgres", config)
        assert levels(native, memory) == states
    assert postgres_structure().decision_order == tuple(PG_DECISIONS)


def test_learned_from_the_corpus_and_recommends_for_an_unseen_workload() -> None:
    corpus = Corpus(CORPUS)
    held_out = "tpch-sf0.1:tpch_7"
    model = fit_postgres_diagram(corpus, DOMAIN, exclude={held_out})
    # more blocks read, temp bytes, tuples fetched and parallel workers (on one CPU) all cost time
    assert all(model.weights[v] < 0 for v in ("blocks_q", "temp_q", "fetched_q", "workers_q"))
    workload = next(w for w in corpus.workloads() if w["workload_id"] == held_out and w["domain"] == DOMAIN)
    default = next(m for m in corpus.measurements() if m["workload_id"] == held_out and m["domain"] == DOMAIN
                   and m["is_default"] and m["status"] == "SUCCEEDED")  # fmt: skip
    w = WorkloadInput("postgres", 1, default["slot_memory_bytes"], workload["features"], {}, default["metrics_per_s"],
                      held_out, default["mean_latency_s"], default["run_s"])  # fmt: skip
    states, config = recommend_postgres(model, w)
    assert set(states) == set(PG_DECISIONS) and all(states[d] in PG_DECISIONS[d] for d in states)
    validate_config("postgres", config)
    with pytest.raises(KnobrayError, match="one run under the default"):
        recommend_postgres(model, WorkloadInput("postgres", 1, default["slot_memory_bytes"]))
