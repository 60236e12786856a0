"""Service settings, options and the request-field conversions (pure logic: no Ray cluster, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.errors import KnobrayError
from serve import ServeSettings, parse_model_options, read_token, settings_from_args
from serve._cli import build_parser, main, settings_of
from serve._inputs import check_config, slot_shape, workload_input


def test_model_options_replace_the_default_or_add_ids() -> None:
    models = parse_model_options(["cost_model=/m/a", "recommender:big=/m/b", "cost-model:v2=/m/c"])
    assert models["cost_model"] == {"default": "/m/a", "v2": "/m/c"}
    assert models["recommender"] == {"default": "", "big": "/m/b"}
    assert models["moe"] == {"default": ""}
    assert ServeSettings(models=models).model_path("recommender", "default") is None


@pytest.mark.parametrize("option", ["oracle=/x", "cost_model", "cost_model="])
def test_bad_model_options_get_one_line(option: str) -> None:
    with pytest.raises(KnobrayError, match="KIND=DIR"):
        parse_model_options([option])


def test_serve_config_args(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("  s3cret \n")
    settings = settings_from_args({"token_file": str(tmp_path / "t"), "no_batching": True, "max_queued": 9})
    assert (settings.token, settings.batching, settings.max_queued, settings.host) == (
        "s3cret",
        False,
        9,
        "127.0.0.1",
    )
    with pytest.raises(KnobrayError, match="unknown serve args colour"):
        settings_from_args({"colour": "red"})


def test_token_files(tmp_path: Path) -> None:
    with pytest.raises(KnobrayError, match="cannot read the token file"):
        read_token(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(KnobrayError, match="is empty"):
        read_token(tmp_path / "empty")


def test_cli_options(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--max-inflight", "predict=5", "--no-batching"])
    settings = settings_of(args)
    assert settings.max_inflight["predict"] == 5 and settings.max_inflight["recommend"] == 8
    assert not settings.batching and settings.host == "127.0.0.1"
    for bad in (["--port", "0"], ["--max-inflight", "query=3"], ["--model", "gpu=/x"]):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err


def test_request_fields_become_model_inputs() -> None:
    shape = slot_shape(type("Slot", (), {"cpus": 4, "memory_gb": 16.0})())
    assert (shape.cpus, shape.memory_bytes) == (4, 16 * 1024**3)
    w = workload_input("postgres", "SELECT a FROM t GROUP BY a; SELECT count(*) FROM t WHERE b > 1", shape)
    assert w.features["num_queries"] == 2 and w.features["group_by_ratio"] == 0.5
    assert workload_input("mariadb", ["SELECT 1", "SELECT 2;"], shape).features["num_queries"] == 2
    # backticks: read as MariaDB's SQL (as PostgreSQL's it would not parse: a read without clauses)
    backticks = workload_input("mariadb", ["SELECT `a` FROM `t` GROUP BY `a`"], shape)
    assert backticks.features["group_by_ratio"] == 1.0
    with pytest.raises(KnobrayError, match="malformed SQL in workload query 2"):
        workload_input("postgres", ["SELECT 1", "SELEC x FRM"], shape)
    with pytest.raises(KnobrayError, match="no queries"):
        workload_input("postgres", ";;", shape)
    assert check_config("postgres", {"work_mem": "64MB"}, "configs[0]") == {"work_mem": 65536}
    with pytest.raises(KnobrayError, match=r"configs\[1\]: unknown knob"):
        check_config("postgres", {"nope": 1}, "configs[1]")


def test_the_serve_config_file_builds_the_application() -> None:
    import yaml

    from serve import app_builder
    from serve._process import REPO

    doc = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())
    app = app_builder(doc["applications"][0]["args"])
    assert type(app).__name__ == "Application"
