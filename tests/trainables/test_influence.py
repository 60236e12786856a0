"""The influence-diagram tuner's pure logic on planted data: MDL cuts where the value changes, the unseen-
parameter estimator within the monotone bounds, the LIMID policy equal to the brute-force optimum, the fading
update, persistence, and the thesis's Berkeley DB structure."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from raytune.errors import KnobrayError
from trainables.influence import (
    DECISIONS,
    MIX,
    Examples,
    InfluenceModel,
    Node,
    NodeKind,
    Structure,
    UnseenEstimator,
    assign_probs,
    berkeleydb_structure,
    candidate_cuts,
    equal_height,
    fit_diagram,
    fit_weights,
    learn,
    mdl_discretize,
    scaled_values,
)


def _planted_step(n: int = 1500, seed: int = 0) -> tuple[Examples, Structure]:
    """A value that steps at x = 40 and 70, and a root z it does not depend on."""
    rng = np.random.default_rng(seed)
    x, z = rng.uniform(0, 100, n).round(1), rng.uniform(0, 100, n).round(1)
    v = np.select([x < 40, x < 70], [1.0, 5.0], 9.0) + rng.normal(0, 0.3, n)
    structure = Structure(
        (Node("x", NodeKind.ROOT), Node("z", NodeKind.ROOT), Node("v", NodeKind.VALUE, ("x", "z"))), ()
    )
    return Examples({"x": x, "z": z, "v": v}, np.exp(3 - 0.1 * v)), structure


def test_mdl_cuts_where_the_value_changes_and_nowhere_else() -> None:
    examples, structure = _planted_step()
    disc = mdl_discretize(examples, structure)
    cuts = disc.cutoffs["x"]
    assert any(abs(c - 40) < 2 for c in cuts) and any(abs(c - 70) < 2 for c in cuts), cuts
    assert len(cuts) <= 3, cuts
    assert disc.cutoffs["z"] == ()  # an irrelevant characteristic stays one bin


def test_equal_height_bins() -> None:
    values = np.arange(1000, dtype=float)
    cuts = equal_height(values, 5)
    counts = np.bincount(np.searchsorted(cuts, values, side="right"))
    assert len(cuts) == 4 and counts.min() >= 180 and counts.max() <= 220
    heavy = np.concatenate([np.full(500, 7.0), np.arange(500, dtype=float) + 10])
    heavy_cuts = equal_height(heavy, 5)
    assert heavy_cuts[0] == 8.5 and len(heavy_cuts) == 4  # 7 (half the data) gets its own bin, the rest 4


def _grid(skip: set[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[float]]:
    seen = [(i, j) for i, j in itertools.product(range(5), range(5)) if (i, j) not in skip]
    return seen, [2.0 * i + j for i, j in seen]


def test_unseen_estimate_stays_within_the_monotone_bounds() -> None:
    seen, expected = _grid({(2, 2), (2, 3), (3, 2)})
    est = UnseenEstimator(seen, expected, knob=[False, False])
    assert est.direction == {0: 1, 1: 1}
    for target in [(2, 2), (2, 3), (3, 2)]:
        value = est.estimate(target).value
        low = max(
            2.0 * i + j
            for i, j in seen
            if (i == target[0] and j < target[1]) or (j == target[1] and i < target[0])
        )
        high = min(
            2.0 * i + j
            for i, j in seen
            if (i == target[0] and j > target[1]) or (j == target[1] and i > target[0])
        )
        assert low <= value <= high and abs(value - (2.0 * target[0] + target[1])) <= 2.0


def test_knob_parents_are_never_varied() -> None:
    seen = [(0, 0), (0, 1), (1, 0)]
    est = UnseenEstimator(seen, [1.0, 2.0, 50.0], knob=[True, False])
    assert est.estimate((1, 1)).value == 50.0  # only (1, 0) shares the knob value
    assert UnseenEstimator([(0, 0)], [1.0], knob=[True, False]).estimate((1, 0)).value is None


def test_assign_probs_has_the_estimated_mean() -> None:
    means = [1.0, 4.0, 9.0]
    for e in (1.0, 2.5, 4.0, 6.0, 9.0):
        p = assign_probs(e, [2.0, 6.0], means)
        assert p.sum() == pytest.approx(1) and p @ means == pytest.approx(e)


def _hand_built(n: int = 4000, seed: int = 1) -> InfluenceModel:
    """A root r, decisions a -> b, a chance node c depending on r and a, a value on c, b and r."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(0, 10, n).round(1)
    a = rng.choice(["x", "y"], n)
    b = rng.choice(["p", "q", "s"], n)
    c = r * np.where(a == "x", 1.0, 0.3) + rng.normal(0, 0.5, n)
    loss = (
        np.abs(c - 3) * np.where(b == "p", 1.0, 0.5)
        + np.where(b == "s", 0.2 * r, 0.0)
        + rng.normal(0, 0.1, n)
    )
    structure = Structure(
        (Node("r", NodeKind.ROOT), Node("a", NodeKind.DECISION, (), ("x", "y")),
         Node("b", NodeKind.DECISION, (), ("p", "q", "s")), Node("c", NodeKind.CHANCE, ("r", "a")),
         Node("loss", NodeKind.VALUE, ("c", "b", "r"))),
        ("a", "b"),
    )  # fmt: skip
    examples = Examples(
        {"r": r, "a": a.astype(object), "b": b.astype(object), "c": c, "loss": loss}, np.exp(2 - 0.2 * loss)
    )
    return learn(examples, structure, mdl_discretize(examples, structure))


def test_policy_equals_the_brute_force_optimum() -> None:
    model = _hand_built()
    assert model.weights["loss"] < 0
    for r in (0.5, 2.0, 4.0, 6.5, 9.5):
        roots = {"r": r}
        combos = [
            dict(zip(("a", "b"), c, strict=True)) for c in itertools.product(("x", "y"), ("p", "q", "s"))
        ]
        brute = {tuple(c.values()): model.brute_force_utility(roots, c) for c in combos}
        best = max(brute, key=brute.get)
        states, utility = model.recommend(roots)
        assert (states["a"], states["b"]) == best and utility == pytest.approx(brute[best], rel=1e-6)
        for c in combos:  # pyAgrum with the decisions as evidence agrees with the enumeration
            assert model.expected_utility(roots, c) == pytest.approx(brute[tuple(c.values())], rel=1e-6)


def test_weights_within_a_kind_of_workload_undo_the_confound_of_busy_workloads() -> None:
    """Planted: ln(throughput) = 5 - 0.02 busy - 0.001 waits, and busy workloads also wait more. The pooled fit
    charges the waits with the workload's own cost; with the workload as a control the weight is recovered."""
    rng = np.random.default_rng(0)
    busy = rng.uniform(0, 100, 2000)
    waits = 10 * busy + rng.uniform(0, 200, 2000)  # a knob moves waits by up to 200 within a workload
    examples = Examples({"busy": busy, "waits": waits}, np.exp(5 - 0.02 * busy - 0.001 * waits))
    pooled = fit_weights(examples, ["waits"])
    within = fit_weights(examples, ["waits"], controls=("busy",))
    assert pooled["waits"] < -0.002  # confounded: more than twice the planted cost
    assert within["waits"] == pytest.approx(-0.001, rel=0.01)
    assert set(within) == {"intercept", "waits"}


def test_log_scale_value_nodes_price_losses_that_span_decades(tmp_path: Path) -> None:
    """Planted: waits per transaction span four decades, a decision d = "b" divides them by 5, and
    ln(throughput) = 4 - 0.5 ln(1 + waits). On the log scale the weight is the elasticity; the value totals,
    a saved model and a later update all stay on that scale."""
    rng = np.random.default_rng(0)
    n = 2000
    r = rng.uniform(0, 9, n).round(2)
    d = rng.choice(["a", "b"], n)
    waits = np.exp(r + rng.normal(0, 0.2, n)) / np.where(d == "b", 5.0, 1.0)
    examples = Examples({"r": r, "d": d.astype(object), "waits": waits}, np.exp(4 - 0.5 * np.log1p(waits)))
    structure = Structure(
        (Node("r", NodeKind.ROOT), Node("d", NodeKind.DECISION, (), ("a", "b")),
         Node("waits", NodeKind.VALUE, ("r", "d"))),
        ("d",),
    )  # fmt: skip
    logged = scaled_values(examples, ["waits"], "log")
    assert fit_weights(logged, ["waits"])["waits"] == pytest.approx(-0.5, rel=0.01)
    model = learn(examples, structure, mdl_discretize(examples, structure), value_scale="log")
    assert model.value_scale == "log" and model.weights["waits"] == pytest.approx(-0.5, rel=0.01)
    assert model.value_sums["waits"].sum() == pytest.approx(np.log1p(waits).sum())
    assert all(model.recommend({"r": x})[0] == {"d": "b"} for x in (0.5, 4.0, 8.5))
    model.save(tmp_path)
    loaded = InfluenceModel.load(tmp_path)
    before = loaded.expected_values("waits").copy()
    loaded.update(examples)  # the same runs again (raw losses): the means on the log scale do not move
    assert loaded.value_scale == "log" and np.allclose(loaded.expected_values("waits"), before)
    with pytest.raises(KnobrayError, match="value scale must be one of log, raw"):
        scaled_values(examples, ["waits"], "cube")


def _planted_additive(shared: tuple[str, ...]) -> tuple[InfluenceModel, Examples]:
    """Planted, without noise: value = 2 [r > 5] + 1 [k = "y"] + g(d), with g = 0, -1.5, 0.5, 1 for the four
    states of d; a third of the (r, k, d) cells never run, each d-state seen in only some of the cells."""
    rng = np.random.default_rng(3)
    n = 600
    r = rng.uniform(0, 10, n).round(1)
    k = rng.choice(["x", "y"], n)
    d = rng.choice(["p", "q", "s", "t"], n)
    drop = ((r > 5) & (k == "y") & np.isin(d, ["q", "s"])) | ((r <= 5) & (k == "x") & (d == "t"))
    r, k, d = r[~drop], k[~drop], d[~drop]
    g = {"p": 0.0, "q": -1.5, "s": 0.5, "t": 1.0}
    loss = 2.0 * (r > 5) + 1.0 * (k == "y") + np.array([g[x] for x in d]) + 3.0
    structure = Structure(
        (Node("r", NodeKind.ROOT), Node("k", NodeKind.DECISION, (), ("x", "y")),
         Node("d", NodeKind.DECISION, (), ("p", "q", "s", "t")),
         Node("loss", NodeKind.VALUE, ("r", "k", "d"), shared=shared)),
        ("k", "d"),
    )  # fmt: skip
    examples = Examples(
        {"r": r, "k": k.astype(object), "d": d.astype(object), "loss": loss}, np.exp(2 - 0.3 * loss)
    )
    return learn(examples, structure, mdl_discretize(examples, structure), value_scale="raw"), examples


def test_a_shared_parent_is_one_additive_effect_estimated_from_every_run(tmp_path: Path) -> None:
    """With the d-effect shared, even the never-run cells get f(r, k) + g(d) exactly; the recommended d is the
    planted best everywhere, and a saved model keeps the sharing."""
    model, examples = _planted_additive(("d",))
    assert model.disc.cutoffs["r"] == pytest.approx((5.05,))
    planted = {(ri, ki, di): 3.0 + 2.0 * ri + 1.0 * ki + (0.0, -1.5, 0.5, 1.0)[di]
               for ri, ki, di in itertools.product(range(2), range(2), range(4))}  # fmt: skip
    means = model.expected_values("loss")
    for row, inst in enumerate(model.instantiations("loss")):
        assert means[row] == pytest.approx(planted[inst], abs=1e-6), inst
    assert all(model.recommend({"r": x})[0] == {"k": "x", "d": "q"} for x in (1.0, 9.0))
    model.save(tmp_path)
    loaded = InfluenceModel.load(tmp_path)
    assert loaded.structure["loss"].shared == ("d",)
    loaded.update(examples)  # the same runs again: the fit does not move
    assert np.allclose(loaded.expected_values("loss"), means)
    full, _ = _planted_additive(())  # without sharing, a never-run cell falls back on its neighbours
    assert not np.allclose(full.expected_values("loss"), means)
    with pytest.raises(KnobrayError, match="shared parents must be some, not all"):
        Node_ = Node("v", NodeKind.VALUE, ("r",), shared=("r",))
        Structure((Node("r", NodeKind.ROOT), Node_), ())
    from tests.trainables.planted_bdb import write_planted_records
    from trainables.influence import train_influence

    metrics = train_influence(
        [write_planted_records(tmp_path / "runs", 200)], tmp_path / "bdb", variant="shared-policy"
    )
    assert metrics["variant"] == "shared-policy"
    assert InfluenceModel.load(tmp_path / "bdb").structure["waits_txn"].shared == ("deadlock_policy",)
    shared = berkeleydb_structure(variant="shared-policy-deadlocks")
    assert shared["waits_txn"].shared == shared["deadlocks_txn"].shared == ("deadlock_policy",)
    knobs = berkeleydb_structure(variant="shared-knobs")  # both knob parents of the waits, one shared effect
    assert knobs["waits_txn"].shared == ("db_rmw", "deadlock_policy") and "deadlocks_txn" not in knobs.names()
    assert (
        berkeleydb_structure(variant="shared-knobs-deadlocks")["deadlocks_txn"].shared
        == knobs["waits_txn"].shared
    )
    pages = berkeleydb_structure(variant="shared-pages-deadlocks")  # page size reaches the waits directly
    assert pages["waits_txn"].shared == pages["deadlocks_txn"].shared == ("page_size", "deadlock_policy")
    assert "page_size" in pages["waits_txn"].parents and "page_size" not in knobs["waits_txn"].parents
    assert berkeleydb_structure()["waits_txn"].shared == ()
    with pytest.raises(KnobrayError, match="structure variant must be one of thesis"):
        berkeleydb_structure(variant="flat")


def test_the_conflicts_variant_prices_contention_through_one_product(tmp_path: Path) -> None:
    from tests.trainables.planted_bdb import write_planted_records
    from trainables.influence import load_examples
    from trainables.influence._data import DERIVED_UNITS, derived

    mix = {"concurrency": 40.0, "pct_updates": 50.0, "pct_writes_upd": 20.0, "def_page_loc": 25.0}
    states = {"page_size": "8192", "db_rmw": "off"}
    layout, per_txn = {"leaf_pages": 400.0, "overflow_pages": 0.0}, {"leaves": 5.0, "overflows": 0.0}
    facts = derived(mix, states, layout, per_txn)
    # 10% of transactions write; a transaction touches 5 of the 100 leaves of its locality set
    assert facts["pct_wlocks"] == pytest.approx(10.0) and facts["pct_loc_txn"] == pytest.approx(5.0)
    assert facts["conflicts"] == pytest.approx(100 * 40 * 0.10 * 0.05)  # x 100
    smaller = derived(mix, {**states, "page_size": "2048"}, {**layout, "leaf_pages": 1600.0}, per_txn)
    assert smaller["conflicts"] == pytest.approx(facts["conflicts"] / 4)  # 4x the pages: 1/4 of the conflicts
    structure = berkeleydb_structure(variant="conflicts-deadlocks")
    assert structure["conflicts"].parents == ("concurrency", "pct_wlocks", "pct_loc_txn")
    for value in ("waits_txn", "deadlocks_txn"):
        waits = ("conflicts", "oflw_txn", "leaves_txn", "db_rmw", "deadlock_policy")
        assert structure[value].parents == waits
        assert structure[value].shared == ("db_rmw", "deadlock_policy")
    assert "conflicts" not in berkeleydb_structure(variant="shared-knobs").names()
    examples = load_examples([write_planted_records(tmp_path / "runs", 200)])
    # x 100: MDL's candidate cuts (rounded to one decimal) keep resolving the small products
    conflicts = examples.columns["conflicts"]
    assert len(candidate_cuts(conflicts)) > 2 * len(candidate_cuts(conflicts / 100))
    model = fit_diagram(examples, berkeleydb_structure(variant="conflicts"))
    assert model.structure["waits_txn"].parents[0] == "conflicts"
    workload = {m: float(examples.columns[m][0]) for m in MIX}
    states_, utility = model.recommend(workload)
    assert utility == pytest.approx(model.brute_force_utility(workload, states_))
    # the diagram records how conflicts was computed (the formula of ``derived``), and one learned under another
    # definition is refused with the command that learns it again
    assert model.meta["derived_units"] == DERIVED_UNITS
    assert eval(DERIVED_UNITS["conflicts"], {}, {**mix, **facts}) == pytest.approx(facts["conflicts"])  # noqa: S307
    assert fit_diagram(examples, berkeleydb_structure()).meta["derived_units"] == {}  # no such node
    model.meta.update(variant="conflicts", records=["runs"])
    model.save(tmp_path / "diagram")
    assert InfluenceModel.load(tmp_path / "diagram").recommend(workload)[0] == states_
    for units in ({"conflicts": "concurrency * pct_wlocks * pct_loc_txn / 10000"}, {}):
        model.meta["derived_units"] = units
        model.save(tmp_path / "other")
        learned_as = "conflicts node was learned as (.* / 10000|an unrecorded definition)"
        with pytest.raises(KnobrayError, match=learned_as) as e:
            InfluenceModel.load(tmp_path / "other")
        assert "\n" not in str(e.value)
        assert str(e.value).endswith("--records runs --out DIR --structure conflicts")
    del model.meta["derived_units"]  # saved before the definitions were recorded: as conflicts came
    model.save(tmp_path / "unrecorded")
    assert InfluenceModel.load(tmp_path / "unrecorded").recommend(workload)[0] == states_


def test_fading_update_weighs_recent_examples_more() -> None:
    examples, structure = _planted_step(n=400)
    model = learn(examples, structure, mdl_discretize(examples, structure), value_scale="raw")
    before = model.expected_values("v").copy()
    shifted = Examples({**examples.columns, "v": examples.columns["v"] + 10}, examples.throughput)
    model.update(shifted, fading=0.9)
    after = model.expected_values("v")
    assert np.all(after > before + 8)  # with f = 0.9, the old examples have almost vanished
    with pytest.raises(KnobrayError, match="fading factor"):
        model.update(shifted, fading=1.5)


def test_a_model_saved_and_loaded_recommends_the_same(tmp_path: Path) -> None:
    model = _hand_built(n=1500)
    model.save(tmp_path)
    loaded = InfluenceModel.load(tmp_path)
    for r in (1.0, 3.0, 8.0):
        (states, utility), (states2, utility2) = loaded.recommend({"r": r}), model.recommend({"r": r})
        assert states == states2 and utility == pytest.approx(utility2)
    with pytest.raises(KnobrayError, match="holds no influence diagram"):
        InfluenceModel.load(tmp_path / "nowhere")
    with pytest.raises(KnobrayError, match="miss r"):
        model.recommend({})


def test_the_berkeleydb_structure_is_the_thesis_final_model() -> None:
    s = berkeleydb_structure()
    assert s.decision_order == tuple(DECISIONS) and math.prod(len(v) for v in DECISIONS.values()) == 32
    assert set(s["waits_txn"].parents) == {"pct_loc_txn", "oflw_txn", "pct_wlocks", "leaves_txn", "concurrency",
                                           "db_rmw", "deadlock_policy"}  # fmt: skip
    assert s.names(NodeKind.VALUE) == ["misses_txn", "waits_txn"]
    assert "faults_txn" in berkeleydb_structure("faults").names(NodeKind.VALUE)
    with pytest.raises(KnobrayError, match="cycle"):
        Structure((Node("a", NodeKind.CHANCE, ("b",)), Node("b", NodeKind.CHANCE, ("a",)),
                   Node("v", NodeKind.VALUE, ("a",))), ())  # fmt: skip
    with pytest.raises(KnobrayError, match="cannot have a child"):
        Structure(
            (
                Node("v", NodeKind.VALUE),
                Node("c", NodeKind.CHANCE, ("v",)),
                Node("w", NodeKind.VALUE, ("c",)),
            ),
            (),
        )


def test_only_the_thesis_combinations_become_examples(tmp_path: Path) -> None:
    from raytune.storage import TrialStore
    from tests.trainables.planted_bdb import write_planted_records
    from trainables.influence import examples_from_rows

    rows = TrialStore(write_planted_records(tmp_path / "runs", 6)).rows()
    rows[0]["applied"] = {**rows[0]["applied"], "page_size": "4096"}  # a general search's page size
    rows[1]["applied"] = {
        **rows[1]["applied"],
        "page_size": "2048",
        "min_keys": 8,
    }  # neither 2 nor 4/16 at 2K
    rows[2]["applied"] = {**rows[2]["applied"], "deadlock_policy": "oldest"}
    assert len(examples_from_rows(rows)) == 3
    assert len(examples_from_rows(rows[3:])) == 3


def test_train_command_line_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from raytune.records import Direction, TrialRecord
    from raytune.storage import TrialStore
    from tests.trainables.planted_bdb import write_planted_records
    from trainables.train._cli import main

    def train(*args: str) -> str:
        assert main(["influence", *args, "--out", str(tmp_path / "model")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
        return err

    assert "holds no trial records" in train("--records", str(tmp_path / "nowhere"))
    other = TrialStore(tmp_path / "postgres")  # a search of another engine: nothing for the diagram
    other.append(TrialRecord(objective=1.0, objective_name="latency_s", direction=Direction.MINIMIZE,
                             engine="postgres", workload={"name": "tpch"}, config={}), score=1.0, optimizer="random")  # fmt: skip
    assert "none of the 1 records is a succeeded Berkeley DB dbperf run" in train(
        "--records", str(other.results_dir)
    )
    planted = str(write_planted_records(tmp_path / "runs", 20))
    assert "--value-bins must be at least 2" in train("--records", planted, "--value-bins", "1")
    assert not (tmp_path / "model").exists()


def test_train_and_recommend_from_the_command_line(tmp_path: Path) -> None:
    """Planted records (a fake world, tests/trainables/planted_bdb.py) -> the train CLI -> the recommend CLI."""
    import json
    import subprocess
    import sys

    from tests.trainables.planted_bdb import write_planted_records

    records = write_planted_records(tmp_path / "runs", 500)
    model = tmp_path / "model"
    root = Path(__file__).resolve().parents[2]
    train = subprocess.run([sys.executable, "-m", "trainables.train", "influence", "--records", str(records),
                            "--out", str(model)], capture_output=True, text=True, cwd=root, timeout=600)  # fmt: skip
    assert train.returncode == 0, train.stderr[-2000:]
    assert (model / "diagram.json").exists() and "500 runs" in train.stdout
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["weights"]["waits_txn"] < 0 and metrics["weights"]["misses_txn"] < 0
    busy = {"concurrency": 100, "pct_cursors": 0, "items_curs": 50, "items_non_curs": 40, "pct_updates": 75,
            "pct_writes_upd": 50, "def_page_loc": 90, "size_loc": 3}  # fmt: skip
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps(busy))

    def recommend(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "raytune.recommend", "--engine", "berkeleydb", *extra],
                              capture_output=True, text=True, cwd=root, timeout=300)  # fmt: skip

    out = recommend("--model", str(model), "--workload-stats", str(stats), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    # the planted optimum for a busy update workload with a large locality set
    assert doc["config"] == {
        "page_size": "8192",
        "min_keys": 2,
        "db_rmw": "on",
        "deadlock_policy": "minwrite",
    }
    assert doc["predicted_gain_pct"] > 0 and any(
        "set_lk_detect DB_LOCK_MINWRITE" in s for s in doc["statements"]
    )
    bad = recommend("--model", str(model))
    assert bad.returncode == 2 and "needs --workload-stats FILE" in bad.stderr
    bad = recommend("--workload-stats", str(stats))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "needs --model DIR" in bad.stderr
    stats.write_text('{"concurrency": 10}')
    bad = recommend("--model", str(model), "--workload-stats", str(stats))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing pct_cursors" in bad.stderr
