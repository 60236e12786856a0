"""cluster.yaml and cluster-local.yaml pass Ray's own cluster-launcher validation (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-local.yaml"])
def test_cluster_file_is_valid(name: str) -> None:
    config = prepare_config(yaml.safe_load((ROOT / name).read_text()))
    validate_config(config)
    assert config["file_mounts"]["~/knobray"] == "."


def test_aws_cluster_puts_instances_on_workers_only() -> None:
    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    types = config["available_node_types"]
    assert config["provider"]["type"] == "aws"
    assert "db_slot" not in types[config["head_node_type"]]["resources"]
    assert types["db_worker"]["resources"]["db_slot"] >= 1
    assert types["gpu_worker"]["resources"]["GPU"] == 1
    assert any("make install" in c for c in config["setup_commands"])


def test_local_cluster_declares_db_slots_in_ray_start() -> None:
    config = prepare_config(yaml.safe_load((ROOT / "cluster-local.yaml").read_text()))
    assert config["provider"]["type"] == "local"
    assert any('"db_slot": 4' in c for c in config["worker_start_ray_commands"])
    assert not any("db_slot" in c for c in config["head_start_ray_commands"])


def test_db_worker_slots_divide_its_cpus_evenly() -> None:
    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    resources = config["available_node_types"]["db_worker"]["resources"]
    cpus, slots = resources["CPU"], resources["db_slot"]
    assert slots <= cpus and cpus % slots == 0  # disjoint slots of CPU / db_slot CPUs each
    assert "--slot-cpus" in (ROOT / "cluster.yaml").read_text()


def test_aws_head_deploys_the_service_on_loopback() -> None:
    from ray.serve.schema import ServeDeploySchema

    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    assert any("serve deploy serve/config.yaml" in c for c in config["head_start_ray_commands"])
    serve_config = ServeDeploySchema(**yaml.safe_load((ROOT / "serve" / "config.yaml").read_text()))
    assert serve_config.http_options.host == "127.0.0.1"  # set explicitly: Serve's YAML default is 0.0.0.0
    assert serve_config.applications[0].import_path == "serve:app_builder"
