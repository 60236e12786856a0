"""Real PostgreSQL and MariaDB servers: lifecycle, applying configs, crash recovery."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from raytune.engines import ENGINES, EngineInstance, create_instance
from raytune.errors import ConfigRejectedError, EngineError, KnobError
from raytune.hardware import detect_hardware
from raytune.knobs import tunable_space

pytestmark = pytest.mark.slow

# A knob each engine reloads, one it must restart for, with a value and its read-back in native units.
RELOAD = {"postgres": ("work_mem", 65536, "65536"), "mariadb": ("sort_buffer_size", 4194304, "4194304")}
RESTART = {
    "postgres": ("shared_buffers", 32768, "32768"),
    "mariadb": ("innodb_log_buffer_size", 33554432, "33554432"),
}
# Configurations each server rejects at start-up or at SET time.
CRASHING = {
    "postgres": [
        {"huge_pages": "on", "shared_buffers": 4194304},  # no huge pages reserved here: cannot map memory
        {"shared_preload_libraries": "no_such_library"},  # FATAL: could not access file
        {"max_connections": 10, "superuser_reserved_connections": 20},  # FATAL: reserved >= max
    ],
    "mariadb": [
        {"innodb_page_size": 4096},  # data files use 16k pages: InnoDB refuses, server aborts
        {"innodb_log_group_home_dir": "/nonexistent"},  # redo log not found: aborts
        {"tmpdir": "/nonexistent"},  # cannot create temporary files: aborts
        {"innodb_buffer_pool_size": 10**15},  # cannot map the buffer pool
    ],
}


def _select_one(instance: EngineInstance) -> int:
    with instance.connect() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        return int(cur.fetchone()[0])


def test_server_is_private_and_unprivileged(engine_instance: EngineInstance) -> None:
    inst = engine_instance
    knob = "listen_addresses" if inst.engine == "postgres" else "bind_address"
    with inst.connect() as conn:
        cur = conn.cursor()
        cur.execute("SHOW listen_addresses" if inst.engine == "postgres" else "SELECT @@bind_address")
        assert cur.fetchone()[0] == "127.0.0.1", knob
    pid = inst._process.pid  # noqa: SLF001 - checking the real process's owner
    uid = os.stat(f"/proc/{pid}").st_uid
    if os.getuid() == 0:
        assert uid != 0, "servers must not run as root"
    assert uid == inst.user.uid


def test_mariadb_keeps_its_temporary_tables_in_its_own_directory(engine_instance: EngineInstance) -> None:
    """Another MariaDB starting up deletes every ``#sql*`` file in its tmpdir: a shared /tmp loses tables."""
    inst = engine_instance
    if inst.engine != "mariadb":
        pytest.skip("PostgreSQL keeps its temporary files in its data directory")
    with inst.connect() as conn:
        cur = conn.cursor()
        cur.execute("SELECT @@tmpdir")
        tmpdir = Path(cur.fetchone()[0])
    assert tmpdir.is_relative_to(inst.paths.root) and tmpdir.is_dir()


def test_introspection_lists_every_knob(engine_instance: EngineInstance) -> None:
    catalog = engine_instance.catalog()
    assert len(catalog) > 300
    assert RELOAD[engine_instance.engine][0] in catalog and RESTART[engine_instance.engine][0] in catalog


def test_reload_knob_applied_without_restart(engine_instance: EngineInstance) -> None:
    name, value, expected = RELOAD[engine_instance.engine]
    pid = engine_instance._process.pid  # noqa: SLF001
    result = engine_instance.apply({name: value})
    assert not result.restarted and result.restart_s == 0
    assert result.applied == {name: expected}
    assert engine_instance._process.pid == pid  # noqa: SLF001 - same server process
    assert f"{name}" in engine_instance.config_path.read_text()  # durable


def test_restart_knob_applied_with_restart_and_survives_restarts(engine_instance: EngineInstance) -> None:
    name, value, expected = RESTART[engine_instance.engine]
    result = engine_instance.apply({name: value})
    assert result.restarted and result.restart_s > 0
    assert result.applied == {name: expected}
    engine_instance.restart()
    with engine_instance.connect() as conn:
        assert engine_instance._read_values(conn, [name]) == {name: expected}  # noqa: SLF001


def test_dropped_knob_returns_to_default(engine_instance: EngineInstance) -> None:
    name, value, _ = RELOAD[engine_instance.engine]
    engine_instance.apply({name: value})
    engine_instance.apply({})
    default = engine_instance.catalog()[name].default
    with engine_instance.connect() as conn:
        assert float(engine_instance._read_values(conn, [name])[name]) == float(default)  # noqa: SLF001


def test_crashing_configs_are_rejected_and_the_instance_recovers(engine_instance: EngineInstance) -> None:
    inst = engine_instance
    name, value, expected = RELOAD[inst.engine]
    inst.apply({name: value})
    for config in CRASHING[inst.engine]:
        with pytest.raises(ConfigRejectedError) as err:
            inst.apply(config)
        message = str(err.value)
        assert "\n" not in message
        # Refused at start-up (crashed) or, for a dynamic knob, at SET time while the server stays up.
        assert ("crashed under the configuration" in message) == err.value.crashed
        assert err.value.crashed or "rejected the configuration" in message
        assert _select_one(inst) == 1
        assert inst.current_config() == {name: expected}  # last good config restored, nothing half-applied
        with inst.connect() as conn:
            assert inst._read_values(conn, [name]) == {name: expected}  # noqa: SLF001
    # The next trial on the same instance succeeds.
    restart_name, restart_value, restart_expected = RESTART[inst.engine]
    assert inst.apply({restart_name: restart_value}).applied == {restart_name: restart_expected}


# Per ordering (low, high) of a tunable set, values that break it.
OUT_OF_ORDER = {
    ("innodb_io_capacity", "innodb_io_capacity_max"): (8000, 2000),
    ("innodb_max_dirty_pages_pct_lwm", "innodb_max_dirty_pages_pct"): (60.0, 30.0),
}


def test_knob_orderings_are_what_the_server_requires(engine_instance: EngineInstance) -> None:
    inst = engine_instance
    catalog = inst.catalog()
    orderings = tunable_space(inst.engine, catalog, detect_hardware()).orderings
    if not orderings:
        pytest.skip(f"the {inst.engine} tunable set declares no knob orderings")
    space = replace(catalog, orderings=orderings)  # the server's own ranges
    for low, high in orderings:
        bad = dict(zip((low, high), OUT_OF_ORDER[(low, high)], strict=True))
        with pytest.raises(ConfigRejectedError) as err:
            inst.apply(space.validate(bad))
        assert not err.value.crashed and "rejected the configuration" in str(err.value)  # refused while up
        repaired = space.repair(space.validate(bad))
        assert repaired[low] <= repaired[high]
        assert inst.apply(repaired).applied.keys() == repaired.keys()


FRACTIONAL = {
    "postgres": ("random_page_cost", 1.23456789),
    "mariadb": ("innodb_max_dirty_pages_pct_lwm", 0.00914616),
}


def test_fractional_value_is_taken_at_the_precision_the_server_shows(engine_instance: EngineInstance) -> None:
    # MariaDB shows doubles with 6 decimals (0.009146), PostgreSQL with 6 significant digits (1.23457): that
    # is the value taken, not a rejection.
    name, value = FRACTIONAL[engine_instance.engine]
    applied = engine_instance.apply({name: value}).applied
    assert float(applied[name]) != value and abs(float(applied[name]) - value) < 1e-5 * max(1.0, value)


def test_failed_start_reports_the_server_error(engine_instance: EngineInstance) -> None:
    config = CRASHING[engine_instance.engine][1]
    with pytest.raises(ConfigRejectedError) as err:
        engine_instance.apply(config)
    assert "exited" in str(err.value)
    assert err.value.log_tail  # the server log's tail travels with the error


def test_killed_server_is_restarted_with_its_last_good_config(engine_instance: EngineInstance) -> None:
    name, value, expected = RELOAD[engine_instance.engine]
    engine_instance.apply({name: value})
    engine_instance.kill()  # SIGKILL, as a crash would
    engine_instance.ensure_healthy()
    assert _select_one(engine_instance) == 1
    with engine_instance.connect() as conn:
        assert engine_instance._read_values(conn, [name]) == {name: expected}  # noqa: SLF001


def test_unknown_or_fixed_knob_touches_nothing(engine_instance: EngineInstance) -> None:
    before = engine_instance.current_config()
    with pytest.raises(KnobError, match="unknown knob"):
        engine_instance.apply({"no_such_knob": 1})
    fixed = "block_size" if engine_instance.engine == "postgres" else "protocol_version"
    with pytest.raises(KnobError):
        engine_instance.apply({fixed: 1})
    assert engine_instance.current_config() == before


def test_clone_from_golden_resets_data_and_config(engine_instance: EngineInstance, workdir: Path) -> None:
    inst = engine_instance
    inst.create_database("knobray")
    with inst.connect("knobray") as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE golden_marker (x INT)")
    name, value, _ = RESTART[inst.engine]
    inst.apply({name: value})
    inst.stop()
    clone = create_instance(inst.engine, workdir / "clone")
    clone.clone_from(inst.paths.data)
    clone.start()
    try:
        assert clone.current_config() == {}
        with clone.connect("knobray") as conn:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM golden_marker")
            assert cur.fetchone()[0] == 0
            assert clone._read_values(conn, [name])[name] != str(value)  # noqa: SLF001 - defaults again
    finally:
        clone.destroy()
        inst.start()


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_missing_binaries_fail_clearly(engine: str, workdir: Path) -> None:
    with pytest.raises(EngineError, match="--bin-dir") as err:
        create_instance(engine, workdir, bin_dir=Path("/nonexistent/bin"))
    assert "\n" not in str(err.value)


def test_unknown_engine(workdir: Path) -> None:
    with pytest.raises(EngineError, match="unknown engine 'oracle'; use one of: postgres, mariadb"):
        create_instance("oracle", workdir)


@pytest.mark.parametrize("engine", [e for e, cls in ENGINES.items() if not cls.embedded])
def test_start_moves_a_port_it_chose_when_another_process_took_it(engine: str, workdir: Path) -> None:
    instance = create_instance(engine, workdir / engine)
    taken = instance.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))  # as a Ray worker might between a stop and a start
        squatter.listen()
        try:
            instance.start()
            assert instance.port != taken
            assert _select_one(instance) == 1
            instance.restart()  # the moved port stays the instance's
            assert _select_one(instance) == 1
        finally:
            instance.destroy()


def test_start_keeps_a_port_the_user_chose_and_reports_it_taken(workdir: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        instance = create_instance("postgres", workdir / "pg", port=port)
        try:
            with pytest.raises(EngineError, match=f"port {port} on 127.0.0.1 is in use by another process"):
                instance.start()
            assert instance.port == port
        finally:
            instance.destroy()


def test_try_apply_returns_the_outcome_instead_of_raising(engine_instance: EngineInstance) -> None:
    from raytune.engines import ApplyOutcome

    crashed = engine_instance.try_apply(CRASHING[engine_instance.engine][1])  # refused at start-up
    assert crashed.outcome is ApplyOutcome.CRASHED and crashed.applied == {} and crashed.log_tail
    assert crashed.error and "\n" not in crashed.error
    assert _select_one(engine_instance) == 1  # back up with its last good configuration
    name, value, expected = RELOAD[engine_instance.engine]
    applied = engine_instance.try_apply({name: value})
    assert (
        applied.outcome is ApplyOutcome.APPLIED
        and applied.applied == {name: expected}
        and applied.error is None
    )
