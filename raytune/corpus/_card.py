"""The dataset card of a corpus: what was measured, how, and how much of it per domain."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from raytune.corpus._store import SCHEMA_VERSION, Corpus


def domain_counts(corpus: Corpus) -> dict[str, dict[str, Any]]:
    """Per domain: measurements by status, workloads, configurations per workload, the default's CV."""
    out: dict[str, dict[str, Any]] = {}
    by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in corpus.measurements():
        by_domain[row["domain"]].append(row)
    for domain, rows in sorted(by_domain.items()):
        statuses: dict[str, int] = defaultdict(int)
        per_workload: dict[str, int] = defaultdict(int)
        defaults: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            statuses[r["status"]] += 1
            per_workload[r["workload_id"]] += 1
            if r["is_default"] and r["objective"] is not None:
                defaults[r["workload_id"]].append(r["objective"])
        cvs = [
            statistics.stdev(v) / statistics.mean(v)
            for v in defaults.values()
            if len(v) > 1 and statistics.mean(v)
        ]
        out[domain] = {
            "measurements": len(rows),
            "statuses": dict(statuses),
            "workloads": len(per_workload),
            "configs_per_workload": statistics.median(per_workload.values()),
            "engine_version": rows[0]["engine_version"],
            "default_cv_median": statistics.median(cvs) if cvs else None,
        }
    return out


def render_card(corpus: Corpus) -> str:
    """The card as Markdown."""
    counts = domain_counts(corpus)
    lines = [
        "# knobray corpus",
        "",
        f"Schema version {SCHEMA_VERSION}. Real measurements of PostgreSQL and MariaDB servers run by knobray: "
        "each row is one workload run once under one configuration, alone in a slot of the stated shape "
        "(CPU set and memory limit enforced), with per-query latencies, the workload mean, internal counters "
        "per second, and, per workload and domain, the queries, E2ETune's workload features and the plans under "
        "the default configuration as compact operator trees.",
        "",
        "| domain | engine version | measurements | succeeded | failed | workloads | configs per workload | "
        "default CV (median) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for domain, c in counts.items():
        ok = c["statuses"].get("SUCCEEDED", 0)
        cv = "-" if c["default_cv_median"] is None else f"{100 * c['default_cv_median']:.1f}%"
        lines.append(
            f"| {domain} | {c['engine_version']} | {c['measurements']} | {ok} | {c['measurements'] - ok} | "
            f"{c['workloads']} | {c['configs_per_workload']:g} | {cv} |"
        )
    lines += [
        "",
        "How: for each workload, the default configuration twice and configurations sampled by a Latin "
        "hypercube over the engine's curated tunable knobs (bounds relative to the slot), then perturbations of "
        "the best sampled one; queries that fail or run past a short timeout under the default are dropped per "
        "engine, with the reason (`workloads.dropped`). Failed runs are kept with their status (REJECTED, "
        "CRASHED, TIMED_OUT); infrastructure failures are not.",
        "",
        "Limits: one run per configuration (the default's spread above is the noise to expect); scale factor "
        "and machine as stated per domain; workloads from E2ETune's GPT-written query sets over the TPC-H and "
        "TPC-DS schemas and the standard query sets.",
    ]
    return "\n".join(lines) + "\n"


def write_card(corpus: Corpus) -> str:
    text = render_card(corpus)
    (corpus.path / "CARD.md").write_text(text)
    return text
