"""Rule-based baselines and the knob <-> parameter encoding (pure logic)."""

from __future__ import annotations

import pytest

from raytune.hardware import Hardware
from raytune.knobs import load_catalog, parse_quantity, tunable_space
from raytune.optimizers import ParamKind, decode, encode, mariadb_rule_config, param_specs, pgtune_config

GB = 1024**3
HW = Hardware(cores=8, ram_bytes=32 * GB, ssd=True)


def test_pgtune_rules_for_a_data_warehouse() -> None:
    cfg = pgtune_config(HW, "dw")
    assert cfg["shared_buffers"] == "8192MB" and cfg["effective_cache_size"] == "24576MB"
    assert cfg["maintenance_work_mem"] == "4096MB"  # RAM/8 for dw, under the 8GB cap
    assert cfg["wal_buffers"] == "16MB" and (cfg["min_wal_size"], cfg["max_wal_size"]) == ("4GB", "16GB")
    assert cfg["random_page_cost"] == "1.1" and cfg["effective_io_concurrency"] == "200"
    assert cfg["max_parallel_workers_per_gather"] == "4" and cfg["max_worker_processes"] == "8"
    # (32GB - 8GB) / ((100 + 8) * 3) / 2 = 38836kB
    assert parse_quantity(cfg["work_mem"], "kB", "work_mem") == pytest.approx(24 * GB / 1024 / 324 / 2, abs=1)
    assert load_catalog("postgres").validate(cfg)


def test_pgtune_small_machine_has_no_parallel_settings_and_min_work_mem() -> None:
    cfg = pgtune_config(Hardware(cores=2, ram_bytes=1 * GB, ssd=False), "oltp")
    assert "max_worker_processes" not in cfg and cfg["random_page_cost"] == "4"
    assert cfg["work_mem"] == "4096kB"
    with pytest.raises(ValueError, match="workload type"):
        pgtune_config(HW, "batch")


def test_mariadb_rules_are_valid_and_chunk_aligned() -> None:
    cfg = mariadb_rule_config(HW, "oltp")
    assert (
        int(cfg["innodb_buffer_pool_size"]) == 8 * GB
        and int(cfg["innodb_buffer_pool_size"]) % (128 << 20) == 0
    )
    assert load_catalog("mariadb").validate(cfg)


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_encoding_round_trips_inside_the_space(engine: str) -> None:
    space = tunable_space(engine, load_catalog(engine), HW)
    specs = param_specs(space)
    assert [s.name for s in specs] == list(space)
    params = encode(space, {})  # the defaults, projected into the space
    for spec in specs:
        value = params[spec.name]
        if spec.kind is ParamKind.CHOICE:
            assert value in spec.choices
        else:
            assert spec.lower <= value <= spec.upper
    config = decode(space, params)
    assert load_catalog(engine).validate(config) == config  # decoded configs are valid configurations


def test_encode_clips_special_values_and_steps() -> None:
    space = tunable_space("mariadb", load_catalog("mariadb"), HW)
    params = encode(space, {"innodb_buffer_pool_size": 100 * GB})
    assert decode(space, params)["innodb_buffer_pool_size"] == space["innodb_buffer_pool_size"].upper
    pg = tunable_space("postgres", load_catalog("postgres"), HW)
    assert encode(pg, {"wal_buffers": -1})["wal_buffers"] == pg["wal_buffers"].lower


def test_decode_repairs_mariadb_io_capacity_above_its_max() -> None:
    space = tunable_space("mariadb", load_catalog("mariadb"), HW)
    assert ("innodb_io_capacity", "innodb_io_capacity_max") in space.orderings
    params = encode(space, {"innodb_io_capacity": 15000, "innodb_io_capacity_max": 3000})
    config = decode(space, params)
    assert config["innodb_io_capacity"] == 15000 and config["innodb_io_capacity_max"] == 15000
    space.validate(config)  # still inside the space
