"""Knob catalogs (everything a server has) and tunable spaces (what a search varies) as data files.

- A *catalog* is introspected from a running server and saved as JSON; a snapshot per engine ships in
  ``data/<engine>-catalog.json`` so that configurations can be validated before any server is touched.
- A *tunable set* (``data/<engine>-tunable.json`` or a user's knob file) names the knobs to search, with
  bounds that may be relative to the hardware (``"0.8*ram"``, ``"2*cores"``), log scale and special values,
  and a deny-list of unsafe or behaviour-changing knobs that only an explicit flag lifts.
- E2ETune's ``knob_config.json`` loads too; its extreme ranges are clamped to sane ones.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from raytune.errors import KnobError
from raytune.hardware import Hardware
from raytune.home import knobray_home
from raytune.knobs._knob import ApplyCost, Knob, KnobSpace, KnobType
from raytune.knobs._units import parse_quantity, unit_kind, unit_scale

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
_RELATIVE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*\*\s*)?(ram|cores)\s*$")
MEMORY_CAP_FRACTION = 0.8  # OtterTune's bound for memory knobs
UNBOUNDED_COUNT_FACTOR = 100  # a count knob with an extreme range is capped at 100x its default


# ----- catalogs ------------------------------------------------------------------------------------------------
def _knob_to_json(knob: Knob) -> dict[str, Any]:
    out: dict[str, Any] = {"type": knob.type.value, "cost": knob.cost.value}
    for attr in ("default", "lower", "upper", "unit", "step", "description"):
        value = getattr(knob, attr)
        if value not in (None, ""):
            out[attr] = value
    if knob.choices:
        out["choices"] = list(knob.choices)
    return out


def _knob_from_json(name: str, data: dict[str, Any]) -> Knob:
    return Knob(
        name=name,
        type=KnobType(data["type"]),
        default=data.get("default"),
        lower=data.get("lower"),
        upper=data.get("upper"),
        choices=tuple(data.get("choices", ())),
        unit=data.get("unit"),
        step=data.get("step"),
        cost=ApplyCost(data.get("cost", "reload")),
        description=data.get("description", ""),
    )


def save_catalog(space: KnobSpace, version: str, path: Path | None = None) -> Path:
    """Saves an introspected catalog (default: the cache for this engine and version)."""
    if path is None:
        path = knobray_home() / "catalog" / f"{space.engine}-{_slug(version)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "engine": space.engine,
        "version": version,
        "knobs": {k.name: _knob_to_json(k) for k in space.knobs},
    }
    # Instances starting side by side save the same catalog at once: each writes its own temporary file, so
    # one's rename never finds the other's file gone.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_catalog(engine: str, path: Path | None = None) -> KnobSpace:
    """Loads a catalog: ``path``, else the newest cached one for ``engine``, else the shipped snapshot.

    The returned space carries the engine's deny-list.
    """
    if path is None:
        cached = sorted(
            (knobray_home() / "catalog").glob(f"{engine}-*.json"), key=lambda p: p.stat().st_mtime
        )
        path = cached[-1] if cached else DATA_DIR / f"{engine}-catalog.json"
    if not path.exists():
        raise KnobError(f"no knob catalog for engine {engine!r} at {path}; use postgres or mariadb")
    return _parse_catalog(engine, str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def cached_catalog(engine: str) -> KnobSpace:
    """:func:`load_catalog` of ``engine`` as this process first loaded it: for model code that reads the
    catalog per prediction (load_catalog looks for a newer cached catalog on disk at every call)."""
    return load_catalog(engine)


@functools.lru_cache(maxsize=16)
def _parse_catalog(engine: str, path: str, mtime_ns: int) -> KnobSpace:
    """The catalog file parsed once per version (cost models call :func:`load_catalog` per prediction)."""
    doc = json.loads(Path(path).read_text())
    knobs = tuple(_knob_from_json(n, d) for n, d in doc["knobs"].items())
    return KnobSpace(doc["engine"], knobs, frozenset(_tunable_doc(engine)["deny"]))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")[:40]


# ----- tunable sets ------------------------------------------------------------------------------------------
def _tunable_doc(engine: str) -> dict[str, Any]:
    path = DATA_DIR / f"{engine}-tunable.json"
    if not path.exists():
        raise KnobError(f"unknown engine {engine!r}; use postgres or mariadb")
    return json.loads(path.read_text())


def write_knob_subset(engine: str, names: list[str], path: Path) -> Path:
    """A knob file holding the curated specs of ``names`` only (e.g. the most important knobs).

    Raises:
        KnobError: A name outside the engine's curated tunable set.
    """
    doc = _tunable_doc(engine)
    unknown = [n for n in names if n not in doc["knobs"]]
    if unknown:
        raise KnobError(f"knob {unknown[0]} is not in the curated {engine} set; rank the curated knobs only")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"engine": engine, "knobs": {n: doc["knobs"][n] for n in names}}, indent=1) + "\n"
    )
    return path


def load_knob_file(path: Path) -> dict[str, dict[str, Any]]:
    """Reads a knob file: knobray's format (``{"knobs": {name: {min, max, log, special}}}``) or E2ETune's.

    Raises:
        KnobError: If the file is missing or not a knob file.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise KnobError(f"knob file {path} does not exist; pass an existing JSON knob file") from None
    except json.JSONDecodeError as exc:
        raise KnobError(
            f"knob file {path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix the file"
        ) from None
    if isinstance(doc, dict) and isinstance(doc.get("knobs"), dict):
        return doc["knobs"]
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) and "type" in v for v in doc.values()):
        return {name: _from_e2etune(spec) for name, spec in doc.items()}
    raise KnobError(
        f"knob file {path} has no 'knobs' mapping and is not in E2ETune's format; see README 'Knob files'"
    )


def _from_e2etune(spec: dict[str, Any]) -> dict[str, Any]:
    # E2ETune gives bounds in native units; clamping to hardware and server bounds happens in tunable_space.
    out: dict[str, Any] = {"clamp": True}
    if spec.get("type") in ("integer", "float"):
        out["min"], out["max"] = spec.get("min"), spec.get("max")
    return out


def _resolve_bound(text: Any, knob: Knob, hw: Hardware) -> float | None:
    if text is None:
        return None
    if isinstance(text, str):
        m = _RELATIVE.match(text)
        if m:
            factor = float(m.group(1) or 1.0)
            if m.group(2) == "cores":
                return factor * hw.cores
            if unit_kind(knob.unit) != "memory":
                raise KnobError(
                    f"knob {knob.name}: bound {text!r} is relative to RAM but the knob is not a size"
                )
            return factor * hw.ram_bytes / unit_scale(knob.unit or "B")
    return parse_quantity(text, knob.unit, knob.name)


def tunable_space(
    engine: str,
    catalog: KnobSpace,
    hardware: Hardware,
    knob_file: Path | None = None,
    *,
    allow_denied: bool = False,
) -> KnobSpace:
    """Builds the space a search varies: curated (or user) knobs, bounds resolved against the hardware
    and clamped to the server's own limits, types/units/defaults/apply cost from the catalog.

    Raises:
        KnobError: Unknown knob, deny-listed knob without ``allow_denied``, or an empty range.
    """
    doc = _tunable_doc(engine)
    specs = load_knob_file(knob_file) if knob_file else doc["knobs"]
    denied = frozenset(doc["deny"])
    deny_check = KnobSpace(engine, (), denied)
    memory_cap_bytes = MEMORY_CAP_FRACTION * hardware.ram_bytes
    knobs: list[Knob] = []
    for name, spec in specs.items():
        name = name.lower()
        if deny_check.is_denied(name) and not allow_denied:
            if spec.get("clamp"):  # a foreign file (E2ETune's): drop what knobray deems unsafe, keep the rest
                logger.warning("skipping deny-listed knob %s from %s", name, knob_file)
                continue
            raise KnobError(
                f"knob {name} is deny-listed for {engine} (unsafe or changes behaviour); pass --allow-unsafe"
            )
        if name not in catalog:
            raise KnobError(
                f"unknown knob {name!r} for {engine} in {knob_file or 'the curated set'}; check the spelling"
            )
        base = catalog[name]
        if base.cost is ApplyCost.FIXED:
            raise KnobError(f"knob {name} cannot be changed on {engine}; remove it from the knob file")
        if not base.numeric:
            choices = tuple(spec.get("choices", base.choices))
            knobs.append(replace(base, choices=choices))
            continue
        lo = _resolve_bound(spec.get("min"), base, hardware)
        hi = _resolve_bound(spec.get("max"), base, hardware)
        lo = base.lower if lo is None else max(lo, base.lower if base.lower is not None else lo)
        hi = base.upper if hi is None else min(hi, base.upper if base.upper is not None else hi)
        special = tuple(float(s) for s in spec.get("special", ()))
        if spec.get("clamp"):
            lo, hi, extra = _sane(base, lo, hi, memory_cap_bytes)
            special = tuple(sorted(set(special) | set(extra)))
        step = spec.get("step", base.step)
        if lo is not None and hi is not None:
            grain = (
                step
                if step and base.type is KnobType.INTEGER
                else 1.0
                if base.type is KnobType.INTEGER
                else None
            )
            if grain:
                lo, hi = math.ceil(lo / grain) * grain, math.floor(hi / grain) * grain
        if lo is not None and hi is not None and lo > hi:
            raise KnobError(
                f"knob {name}: range [{lo:g}, {hi:g}] is empty on this hardware; widen it in the knob file"
            )
        log = bool(spec.get("log", lo is not None and hi is not None and lo > 0 and hi / lo >= 1000))
        if log and (lo is None or lo <= 0):
            lo = 1.0
        knobs.append(replace(base, lower=lo, upper=hi, log=log, special=special, step=step))
    names = {k.name for k in knobs}
    orderings = tuple((low, high) for low, high in doc.get("order", ()) if low in names and high in names)
    return KnobSpace(engine, tuple(knobs), denied, orderings)


def _sane(
    base: Knob, lo: float | None, hi: float | None, memory_cap_bytes: float
) -> tuple[float | None, float | None, tuple[float, ...]]:
    """Clamps extreme ranges: sizes to 80% of RAM, plain counts and times to 100x their default (at least 1000),
    and turns a negative lower bound (``-1`` = auto / off) into a special value."""
    special: tuple[float, ...] = ()
    if lo is not None and lo < 0:
        special, lo = (lo,), 0.0
    if hi is None:
        return lo, hi, special
    default = float(base.default) if isinstance(base.default, int | float) and base.default > 0 else 0.0
    kind = unit_kind(base.unit)
    if kind == "memory":
        hi = min(hi, memory_cap_bytes / unit_scale(base.unit or "B"))
    else:
        hi = min(hi, max(default * UNBOUNDED_COUNT_FACTOR, 1000.0))
    if lo is not None and hi < lo:
        hi = lo
    return lo, hi, special
