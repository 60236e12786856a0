"""A real local Ray with two db_slots, shared by the search tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        num_cpus=2,
        resources={"db_slot": 2},
        include_dashboard=False,
        namespace="knobray",
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()
