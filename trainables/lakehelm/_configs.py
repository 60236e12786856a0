"""Engine configurations as numeric vectors.

The CSVs write a configuration either positionally (``16;200;20|0.5;1``: Spark and Presto) or as
``key=val; key=val`` (Trino, some Spark runs). Values may carry units (``4g``, ``128m``, ``18GB``) or be booleans.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

MAX_CONFIG_DIM = 16
_NUMBER = re.compile(r"^([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)$")
_UNIT_MB = {"": None, "b": 1 / 2**20, "k": 1 / 1024, "kb": 1 / 1024, "m": 1.0, "mb": 1.0, "g": 1024.0}
_UNIT_MB |= {"gb": 1024.0, "t": 1024.0**2, "tb": 1024.0**2}


def _value(token: str) -> float:
    token = token.strip()
    low = token.lower()
    if low in ("true", "on", "yes"):
        return 1.0
    if low in ("false", "off", "no"):
        return 0.0
    m = _NUMBER.match(token)
    if not m:
        # A categorical value: a stable number in [0, 1) so that equal values encode equally.
        return (sum(ord(ch) * 31**i for i, ch in enumerate(low)) % 9973) / 9973
    number, unit = float(m.group(1)), m.group(2).lower()
    scale = _UNIT_MB.get(unit)
    return number * scale if scale is not None else number


def parse_config(text: str) -> dict[str, float] | list[float]:
    """``key=val`` configs -> {key: value}; positional configs -> [values] (``|`` and ``;`` both separate)."""
    parts = [p for p in re.split(r"[;|]", text) if p.strip()]
    if parts and all("=" in p for p in parts):
        return {k.strip(): _value(v) for k, v in (p.split("=", 1) for p in parts)}
    return [_value(p) for p in parts]


class ConfigVectorizer:
    """Fixed-width, scaled vectors for the configs of each engine.

    Keyed configs are laid out by the sorted union of their engine's keys; positional ones by position. Values
    are sign-log scaled, then standardised per (engine, dimension) over all configs seen (features only; no
    latencies are involved).
    """

    def __init__(self, dim: int = MAX_CONFIG_DIM) -> None:
        self.dim = dim
        self._keys: dict[str, list[str]] = {}
        self._mean: dict[str, np.ndarray] = {}
        self._std: dict[str, np.ndarray] = {}

    def _raw(self, engine: str, text: str) -> np.ndarray:
        parsed = parse_config(text)
        if isinstance(parsed, dict):
            keys = self._keys.get(engine, sorted(parsed))
            values = [parsed.get(k, 0.0) for k in keys]
        else:
            values = parsed
        out = np.zeros(self.dim)
        vals = [math.copysign(math.log1p(abs(v)), v) for v in values[: self.dim]]
        out[: len(vals)] = vals
        return out

    def fit(self, engines: Sequence[str], texts: Sequence[str]) -> ConfigVectorizer:
        for engine, text in zip(engines, texts, strict=True):
            parsed = parse_config(text)
            if isinstance(parsed, dict):
                self._keys[engine] = sorted(set(self._keys.get(engine, [])) | set(parsed))
        by_engine: dict[str, list[np.ndarray]] = {}
        for engine, text in zip(engines, texts, strict=True):
            by_engine.setdefault(engine, []).append(self._raw(engine, text))
        for engine, rows in by_engine.items():
            arr = np.stack(rows)
            self._mean[engine] = arr.mean(axis=0)
            self._std[engine] = np.where(arr.std(axis=0) > 1e-9, arr.std(axis=0), 1.0)
        return self

    def transform(self, engines: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        rows = []
        for engine, text in zip(engines, texts, strict=True):
            raw = self._raw(engine, text)
            mean = self._mean.get(engine, np.zeros(self.dim))
            std = self._std.get(engine, np.ones(self.dim))
            rows.append((raw - mean) / std)
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
