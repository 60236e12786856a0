"""Shared fixtures: an isolated knobray home, work directories the server user can reach, real instances."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ENGINES = ["postgres", "mariadb"]
# Every Ray a test starts without an address (its own, a CLI's, Ray Train's) is a new local one: never a cluster
# that a test or `ray start` left running on this machine.
# (Ray reads this for "auto" too: a test that means a running cluster passes its address.)
os.environ["RAY_ADDRESS"] = "local"


@pytest.fixture(scope="session", autouse=True)
def knobray_home() -> Iterator[Path]:
    """A fresh KNOBRAY_HOME per test session (caches, golden data dirs, instances)."""
    home = Path(tempfile.mkdtemp(prefix="knobray-test-", dir="/var/tmp"))
    os.chmod(home, 0o755)
    old = os.environ.get("KNOBRAY_HOME")
    os.environ["KNOBRAY_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("KNOBRAY_HOME", None)
    else:
        os.environ["KNOBRAY_HOME"] = old
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def workdir(knobray_home: Path) -> Path:
    """An empty directory the database server user can reach."""
    path = knobray_home / "work" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    for p in (path, path.parent):
        os.chmod(p, 0o755)
    return path


@pytest.fixture
def bdb_instance(workdir: Path) -> Iterator[object]:
    """A running Berkeley DB instance holding the 4,900 items of dbperf at sf 0.2."""
    from raytune.engines import BerkeleyDBInstance
    from raytune.workloads import ItemSpace

    inst = BerkeleyDBInstance(workdir / "bdb")
    inst.start()
    inst.load_items(ItemSpace(sf=0.2).pairs())
    yield inst
    inst.destroy()


@pytest.fixture(scope="module", params=ENGINES)
def engine_instance(request: pytest.FixtureRequest, knobray_home: Path) -> Iterator[object]:
    """A running instance of each engine (module-scoped: start once, share between tests)."""
    from raytune.engines import create_instance

    root = knobray_home / "modinst" / f"{request.param}-{uuid.uuid4().hex[:6]}"
    root.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, 0o755)
    instance = create_instance(request.param, root)
    instance.start()
    yield instance
    instance.destroy()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    """A real local Ray with two db_slots, shared by the tests of a module; its address, for processes to join."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    context = ray.init(
        address="local",
        num_cpus=2,
        resources={"db_slot": 2},
        include_dashboard=False,
        namespace="knobray",
        log_to_driver=False,
        configure_logging=False,
    )
    yield context.address_info["gcs_address"]
    ray.shutdown()
