"""The collection's sampling: Latin hypercube strata, perturbations within bounds, resumable item lists."""

from __future__ import annotations

from pathlib import Path

from raytune.corpus import CollectPlan, latin_hypercube, missing, perturbations
from raytune.corpus._collect import perturb_items, sample_items
from raytune.optimizers import ParamKind, param_specs
from tests.backends import planted


def test_latin_hypercube_puts_one_sample_in_each_stratum() -> None:
    specs = param_specs(planted.space())
    samples = latin_hypercube(specs, 10, seed=3)
    assert len(samples) == 10
    rpc = next(s for s in specs if s.name == "random_page_cost")
    strata = sorted(int((p["random_page_cost"] - rpc.lower) / (rpc.upper - rpc.lower) * 10) for p in samples)
    assert strata == list(range(10))
    assert latin_hypercube(specs, 10, seed=3) == samples  # deterministic


def test_perturbations_stay_in_bounds_and_near() -> None:
    specs = param_specs(planted.space())
    base = latin_hypercube(specs, 1, seed=1)[0]
    for p in perturbations(specs, base, 20, seed=2):
        for s in specs:
            if s.kind is not ParamKind.CHOICE:
                assert s.lower <= p[s.name] <= s.upper


def test_items_resume_without_repeating(tmp_path: Path) -> None:
    plan = CollectPlan("postgres", (), tmp_path, configs=3, perturb=2)
    files = [tmp_path / "a.wg", tmp_path / "b.wg"]
    items = sample_items(plan, planted.space(), files)
    assert len(items) == 2 * (2 + 3)
    assert [i["plans"] for i in items[:2]] == [True, False]
    done = [
        {
            "workload": {"queries_file": i["queries_file"]},
            "config": i["config"],
            "status": "SUCCEEDED",
            "objective": k,
        }
        for k, i in enumerate(items[:6], start=1)
    ]
    left = missing(items, done)
    assert left == items[6:]
    more = perturb_items(plan, planted.space(), files, done)
    assert [i["queries_file"] for i in more] == [str(files[0])] * 2 + [str(files[1])] * 2
    assert perturb_items(plan, planted.space(), files[:1], []) == []  # nothing measured: nothing to perturb


def test_corpus_rows_count_as_measured(tmp_path: Path) -> None:
    """A collection resumes from the committed corpus alone (its trial records may be gone)."""
    plan = CollectPlan("postgres", (), tmp_path, configs=2, perturb=0)
    items = sample_items(plan, planted.space(), [tmp_path / "tpch_5.wg"])
    corpus_rows = [{"workload_id": "tpch-sf0.1:tpch_5", "config": i["config"]} for i in items[:3]]
    assert missing(items, corpus_rows) == items[3:]
