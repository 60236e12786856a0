"""knobray's search side: knob spaces, engines, workloads, measurement, trial records and the Ray Tune search.

Layers (each a subpackage; none reaches into another's private modules):

- ``raytune.knobs``: knob definitions, validated knob spaces, curated tunable sets.
- ``raytune.engines``: server lifecycle (PostgreSQL, MariaDB) and applying configurations safely.
- ``raytune.workloads``: TPC-H / TPC-DS generation and loading, query files, pgbench and sysbench.
- ``raytune.measurement``: running a workload and turning it into numbers.
- ``raytune.records``: the ``TrialRecord`` every trial produces.
- ``raytune.trial``: one trial end to end (``python -m raytune.trial``).
"""

from __future__ import annotations

__version__ = "0.1.0"
