"""Storage of trial records: a Parquet dataset per results directory."""

from __future__ import annotations

from raytune.storage._parquet import SCHEMA, TrialStore

__all__ = ["SCHEMA", "TrialStore"]
