"""Catalogs and tunable spaces, built from the shipped catalog snapshots (pure data, no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytune.errors import KnobError
from raytune.hardware import Hardware
from raytune.knobs import ApplyCost, load_catalog, load_knob_file, tunable_space

HW = Hardware(cores=4, ram_bytes=16 * 1024**3)
E2ETUNE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "e2etune" / "knob_config" / "knob_config.json"
)


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_curated_space_has_about_twenty_knobs_within_server_and_hardware_bounds(engine: str) -> None:
    catalog = load_catalog(engine)
    space = tunable_space(engine, catalog, HW)
    assert 18 <= len(space) <= 30
    for knob in space.knobs:
        server = catalog[knob.name]
        assert knob.type == server.type and knob.unit == server.unit and knob.cost == server.cost
        if knob.numeric:
            assert server.lower <= knob.lower <= knob.upper <= server.upper, knob.name
        assert not space.is_denied(knob.name)


def test_postgres_bounds_follow_hardware() -> None:
    space = tunable_space("postgres", load_catalog("postgres"), HW)
    assert space["shared_buffers"].upper == 0.5 * HW.ram_bytes / 8192  # '0.5*ram' in 8kB pages
    assert space["shared_buffers"].log
    assert space["max_parallel_workers_per_gather"].upper == HW.cores
    assert space["max_worker_processes"].upper == 2 * HW.cores
    assert space["shared_buffers"].cost is ApplyCost.RESTART
    assert space["work_mem"].cost is ApplyCost.RELOAD
    bigger = tunable_space("postgres", load_catalog("postgres"), Hardware(cores=16, ram_bytes=64 * 1024**3))
    assert bigger["shared_buffers"].upper == 4 * space["shared_buffers"].upper


def test_mariadb_step_rounds_bounds_to_chunks() -> None:
    knob = tunable_space("mariadb", load_catalog("mariadb"), HW)["innodb_buffer_pool_size"]
    assert knob.lower % 134217728 == 0 and knob.upper % 134217728 == 0


def test_catalog_classifies_reload_and_restart_from_the_server() -> None:
    pg, maria = load_catalog("postgres"), load_catalog("mariadb")
    assert pg["shared_buffers"].cost is ApplyCost.RESTART  # context = postmaster
    assert pg["work_mem"].cost is ApplyCost.RELOAD  # context = user
    assert pg["block_size"].cost is ApplyCost.FIXED  # context = internal
    assert maria["innodb_log_buffer_size"].cost is ApplyCost.RESTART  # READ_ONLY
    assert maria["sort_buffer_size"].cost is ApplyCost.RELOAD
    assert pg["shared_buffers"].unit == "8kB" and maria["sort_buffer_size"].unit == "B"


def test_e2etune_knob_file_loads_clamped() -> None:
    if not E2ETUNE.exists():
        pytest.skip(f"shared data not present at {E2ETUNE}")
    space = tunable_space("postgres", load_catalog("postgres"), HW, E2ETUNE)
    raw = json.loads(E2ETUNE.read_text())
    assert len(space) >= 40 and "max_connections" not in space  # deny-listed knobs are dropped
    ram_pages = HW.ram_bytes / 8192
    assert space["shared_buffers"].upper <= 0.8 * ram_pages < raw["shared_buffers"]["max"] * 10
    assert space["autovacuum_analyze_threshold"].upper <= 5000 < raw["autovacuum_analyze_threshold"]["max"]
    assert -1 in space["wal_buffers"].special and space["wal_buffers"].lower >= 0


def test_user_knob_file(tmp_path: Path) -> None:
    path = tmp_path / "knobs.json"
    path.write_text(json.dumps({"knobs": {"work_mem": {"min": "1MB", "max": "0.01*ram"}, "jit": {}}}))
    space = tunable_space("postgres", load_catalog("postgres"), HW, path)
    assert list(space) == ["work_mem", "jit"]
    assert space["work_mem"].lower == 1024 and space["work_mem"].upper == int(0.01 * HW.ram_bytes / 1024)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"knobs": {"no_such_knob": {}}}', "unknown knob 'no_such_knob'"),
        ('{"knobs": {"fsync": {}}}', "deny-listed"),
        ('{"knobs": {"block_size": {}}}', "cannot be changed"),
        ('{"knobs": {"work_mem": {"min": "1GB", "max": "1MB"}}}', "is empty"),
        ('{"knobs": {"work_mem": {"max": "0.5*cores"}}}', "is empty"),
        ('{"knobs": {"max_parallel_workers": {"max": "0.5*ram"}}}', "relative to RAM"),
        ("{not json", "not valid JSON"),
        ('["a"]', "no 'knobs' mapping"),
    ],
)
def test_bad_knob_files_fail_clearly(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "knobs.json"
    path.write_text(content)
    with pytest.raises(KnobError, match=fragment):
        tunable_space("postgres", load_catalog("postgres"), HW, path)


def test_missing_knob_file_and_unknown_engine() -> None:
    with pytest.raises(KnobError, match="does not exist"):
        load_knob_file(Path("/nonexistent/knobs.json"))
    with pytest.raises(KnobError, match="unknown engine 'oracle'"):
        tunable_space("oracle", load_catalog("postgres"), HW)


def test_catalog_saved_by_many_at_once_ends_whole_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    # Two instances starting side by side once raced on one temporary file name; one of them failed.
    from concurrent.futures import ThreadPoolExecutor

    from raytune.knobs import save_catalog

    space = load_catalog("postgres")
    path = tmp_path / "catalog" / "postgres-18.json"
    with ThreadPoolExecutor(8) as pool:
        saved = list(pool.map(lambda _: save_catalog(space, "18", path), range(32)))
    assert saved == [path] * 32
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert list(load_catalog("postgres", path)) == list(space)
