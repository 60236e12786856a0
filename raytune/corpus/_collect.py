"""Collecting a corpus on the real pool: many workloads, each under the default and sampled configurations.

Per engine:

1. **Query check** (once per engine, on one instance under the default configuration): every query of every
   workload file is explained and run once with a short statement timeout; a query that fails to translate,
   plan or run, or that runs past the timeout, is dropped with its reason. The kept queries are written to
   ``OUT/workloads/<engine>/<name>.wg`` with the reasons beside them (``<name>.wg.dropped.json``); a workload
   left without queries is skipped.
2. Per domain (slot shape), on the search pool, each trial alone in its slot:
   - **sample**: the default twice (the first run records the plans) and ``configs`` configurations from a
     Latin hypercube over the tunable set (knob bounds from the slot's shape; log scale where the knob is
     searched on one);
   - **perturb**: ``perturb`` neighbours of the best configuration found so far for each workload (Gaussian
     steps of 0.15 of each knob's normalised range).
3. Each domain's trial records (``OUT/runs/<domain>/``) are added to the corpus (``OUT/corpus`` unless another
   is named).

Everything is resumable: a measurement already recorded is not repeated, so the same command continues an
interrupted collection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raytune.backends import config_key
from raytune.corpus._add import DROPPED_SUFFIX, add_results, domain_of
from raytune.corpus._store import Corpus
from raytune.errors import KnobrayError
from raytune.knobs import KnobSpace
from raytune.optimizers import (
    ParamKind,
    ParamSpec,
    decode,
    encode,
    from_unit_position,
    param_specs,
    unit_position,
)
from raytune.slots import SlotShape
from raytune.storage import TrialStore

logger = logging.getLogger(__name__)

PERTURB_SD = 0.15


@dataclass(frozen=True)
class CollectPlan:
    """What to collect: an engine, workload files over one TPC data set, slot shapes and sampling sizes."""

    engine: str
    workload_files: tuple[Path, ...]
    out: Path
    benchmark: str = "tpch"
    sf: float = 0.1
    shapes: tuple[SlotShape, ...] = ()
    configs: int = 10
    perturb: int = 4
    default_repeats: int = 2
    seed: int = 0
    timeout_s: float = 20.0
    query_timeout_s: float = 5.0
    corpus_dir: Path | None = None  # default: OUT/corpus

    def __post_init__(self) -> None:
        """Raises ``KnobrayError`` for an engine without SQL: a corpus is SQL workloads with their plans."""
        from raytune.engines import dialect_of

        if not dialect_of(self.engine):
            raise KnobrayError(
                f"a corpus holds SQL workloads, which {self.engine} does not run; collect {self.engine}'s "
                "db_perf runs with collect --engine berkeleydb --mixes N"
            )

    @property
    def corpus(self) -> Corpus:
        return Corpus(self.corpus_dir or self.out / "corpus")

    def runs_dir(self, shape: SlotShape) -> Path:
        return self.out / "runs" / domain_of(self.engine, shape.cpus, shape.memory_bytes).replace("/", "-")


def latin_hypercube(specs: Sequence[ParamSpec], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` optimizer parameter sets spread by a Latin hypercube (scipy's), one stratum per sample and knob."""
    from scipy.stats import qmc

    if n <= 0:
        return []
    unit = qmc.LatinHypercube(d=len(specs), seed=seed).random(n)
    return [{s.name: _from_unit(s, u) for s, u in zip(specs, row, strict=True)} for row in unit]


def perturbations(
    specs: Sequence[ParamSpec], params: dict[str, Any], n: int, seed: int
) -> list[dict[str, Any]]:
    """``n`` neighbours of ``params``: each knob moved by a Gaussian step in its normalised range."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        out.append(
            {
                s.name: _from_unit(
                    s, min(max(_to_unit(s, params[s.name]) + rng.normal(0, PERTURB_SD), 0.0), 1.0)
                )
                if s.kind is not ParamKind.CHOICE or rng.random() < PERTURB_SD
                else params[s.name]
                for s in specs
            }
        )
    return out


def _from_unit(spec: ParamSpec, u: float) -> Any:
    if spec.kind is ParamKind.CHOICE:
        return spec.choices[min(int(u * len(spec.choices)), len(spec.choices) - 1)]
    return from_unit_position(spec, u)


def _to_unit(spec: ParamSpec, value: Any) -> float:
    if spec.kind is ParamKind.CHOICE:
        return (list(spec.choices).index(value) + 0.5) / len(spec.choices)
    return unit_position(spec, value)


def _seed(*parts: object) -> int:
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def sample_items(plan: CollectPlan, space: KnobSpace, files: Sequence[Path]) -> list[dict[str, Any]]:
    """The sample stage: per workload the default ``default_repeats`` times (plans on the first) and the
    Latin-hypercube configurations."""
    specs = param_specs(space)
    items: list[dict[str, Any]] = []
    for path in files:
        qf = str(path)
        for r in range(plan.default_repeats):
            items.append({"label": "default", "config": {}, "queries_file": qf, "plans": r == 0})
        for params in latin_hypercube(specs, plan.configs, _seed(plan.seed, path.name)):
            items.append({"label": None, "config": decode(space, params), "queries_file": qf, "plans": False})
    return items


def perturb_items(
    plan: CollectPlan, space: KnobSpace, files: Sequence[Path], rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The perturb stage: neighbours of each workload's best measured configuration so far."""
    specs = param_specs(space)
    items: list[dict[str, Any]] = []
    for path in files:
        ok = [
            r
            for r in rows
            if r["status"] == "SUCCEEDED" and r["objective"] is not None and workload_stem(r) == path.stem
        ]
        if not ok:
            continue
        best = min(ok, key=lambda r: r["objective"])  # OLAP: latency
        params = encode(space, best["config"])
        for p in perturbations(specs, params, plan.perturb, _seed(plan.seed, path.name, "perturb")):
            items.append(
                {"label": None, "config": decode(space, p), "queries_file": str(path), "plans": False}
            )
    return items


def workload_stem(row: dict[str, Any]) -> str:
    """The query file a trial row (``workload.queries_file``) or corpus row (``workload_id``) measured."""
    if "workload_id" in row:
        return str(row["workload_id"]).partition(":")[2]
    return Path((row.get("workload") or {}).get("queries_file") or "").stem


def missing(items: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items not measured yet (a configuration of a workload counts as often as it was recorded); ``rows``
    are trial rows or corpus rows."""
    have: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (workload_stem(r), config_key(r["config"]))
        have[key] = have.get(key, 0) + 1
    out = []
    for item in items:
        key = (Path(item["queries_file"] or "").stem, config_key(item["config"]))
        if have.get(key, 0) > 0:
            have[key] -= 1
        else:
            out.append(item)
    return out


def check_queries(plan: CollectPlan) -> list[Path]:
    """Step 1 of the module docstring: the checked workload files (existing checks are reused)."""
    from raytune.workloads import read_query_file

    folder = plan.out / "workloads" / plan.engine
    folder.mkdir(parents=True, exist_ok=True)
    todo = [p for p in plan.workload_files if not (folder / (p.stem + ".wg" + DROPPED_SUFFIX)).is_file()]
    if todo:
        verdicts = _run_query_check(plan, {p.stem: read_query_file(p) for p in todo})
        for path in todo:
            kept, dropped = verdicts[path.stem]
            if kept:
                (folder / (path.stem + ".wg")).write_text("\n".join(q.sql for q in kept) + "\n")
            (folder / (path.stem + ".wg" + DROPPED_SUFFIX)).write_text(
                json.dumps({plan.engine: dropped, "source": str(path)}, indent=1) + "\n"
            )
    checked = []
    for path in plan.workload_files:
        kept_file = folder / (path.stem + ".wg")
        if kept_file.is_file():
            checked.append(kept_file)
        else:
            logger.warning("workload %s has no query that runs on %s: skipped", path.name, plan.engine)
    return checked


def _run_query_check(
    plan: CollectPlan, files: dict[str, list[Any]]
) -> dict[str, tuple[list[Any], dict[str, str]]]:
    """Explains and runs every query once under the default configuration on one fresh instance."""
    from raytune.home import ensure_home
    from raytune.measurement import QueryFailedError, run_olap
    from raytune.trial import MeasureSettings, TrialRunner
    from raytune.workloads import make_workload

    workload = make_workload(plan.benchmark, sf=plan.sf, cache_dir=ensure_home() / "data")
    verdicts: dict[str, tuple[list[Any], dict[str, str]]] = {}
    with TrialRunner(plan.engine, workload, settings=MeasureSettings(repeats=1, plans=False)) as runner:
        runner.prepare()
        instance, db = runner.instance, workload.database
        for stem, queries in files.items():
            kept, dropped = [], {}
            for q in queries:
                try:
                    q.translated(instance.dialect)
                    result = run_olap(
                        instance, db, [q], repeats=1, warmup=False, timeout_s=plan.query_timeout_s
                    )
                except QueryFailedError as exc:
                    dropped[q.name] = f"fails: {str(exc).splitlines()[0][:200]}"
                    instance.ensure_healthy()
                    continue
                except Exception as exc:  # noqa: BLE001 - sqlglot cannot translate it to this engine
                    if not instance.answers():
                        raise
                    dropped[q.name] = f"cannot be translated: {str(exc).splitlines()[0][:200]}"
                    continue
                if result.timed_out:
                    dropped[q.name] = f"runs past {plan.query_timeout_s:g}s under the default configuration"
                else:
                    kept.append(q)
            verdicts[stem] = (kept, dropped)
    return verdicts


def collect(plan: CollectPlan, on_record: Callable[[dict[str, Any]], None] | None = None) -> Corpus:
    """Runs the collection of the module docstring and returns the corpus.

    Raises:
        KnobrayError: No workload file, or none with a query that runs on the engine.
    """
    from raytune.hardware import detect_hardware
    from raytune.trial import MeasureSettings
    from raytune.tune import SearchSpec, WorkloadSpec, connect_ray, knob_space_for, measure_given

    if not plan.workload_files:
        raise KnobrayError("no workload files given; pass --workloads 'DIR/*.wg'")
    plan.corpus.create()
    files = check_queries(plan)
    if not files:
        raise KnobrayError(
            f"none of the {len(plan.workload_files)} workloads has a query that runs on {plan.engine}"
        )
    settings = MeasureSettings(repeats=1, timeout_s=plan.timeout_s, plans=False)
    cores = detect_hardware().cores
    specs = [
        SearchSpec(
            results_dir=plan.runs_dir(shape),
            engine=plan.engine,
            workload=WorkloadSpec(plan.benchmark, plan.sf),
            settings=settings,
            optimizer="configs",
            instances=max(1, cores // shape.cpus),  # every slot of the node busy
            slot_cpus=shape.cpus,
            slot_memory_bytes=shape.memory_bytes,
            confirm=0,
            baselines=False,
        )
        for shape in plan.shapes
    ]
    connect_ray(max(specs, key=lambda s: s.instances))  # db_slots for the shape with the most slots
    for spec, shape in zip(specs, plan.shapes, strict=True):
        space = knob_space_for(spec, shape)
        store = TrialStore(spec.results_dir)
        domain = domain_of(plan.engine, shape.cpus, shape.memory_bytes)
        sample = sample_items(plan, space, files)
        measure_given(spec, missing(sample, _recorded(store, plan.corpus, domain)), f"sample-{int(time.time())}",
                      on_record=on_record)  # fmt: skip
        rows = _recorded(store, plan.corpus, domain)
        # Neighbours of the best *sampled* configuration: the same items again when a collection resumes.
        sampled = {(Path(i["queries_file"]).stem, config_key(i["config"])) for i in sample}
        base = [r for r in rows if (workload_stem(r), config_key(r["config"])) in sampled]
        todo = missing(perturb_items(plan, space, files, base), rows)
        measure_given(spec, todo, f"perturb-{int(time.time())}", on_record=on_record)
        add_results(plan.corpus, [spec.results_dir])
    return plan.corpus


def _recorded(store: TrialStore, corpus: Corpus, domain: str) -> list[dict[str, Any]]:
    """What a domain already holds: the collection's trial records and the corpus's rows (a collection resumes
    from either: the corpus alone is enough), each measurement once."""
    rows = {r["trial_id"]: r for r in corpus.measurements() if r["domain"] == domain}
    rows.update({r["trial_id"]: r for r in store.rows()})
    return list(rows.values())
