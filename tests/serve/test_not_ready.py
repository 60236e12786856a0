"""A model directory that does not load leaves the real service up and not ready, and says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serve.service import SPARK_PLANS, Service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    missing = tmp_path_factory.mktemp("models") / "no-such-model"
    svc = Service("--model", f"cost_model={missing}")
    try:
        yield svc
    finally:
        svc.stop()


def test_a_missing_model_directory_leaves_the_app_up_and_not_ready(service: Service) -> None:
    assert "NOT READY" in service.banner and "no-such-model" in service.banner, service.banner
    status, _, body = service.request("GET", "/healthz")
    assert status == 503 and body["status"] == "not ready"
    assert any("cost_model default" in p and "no-such-model" in p for p in body["problems"]), body
    models = {m["kind"]: m for m in service.request("GET", "/v1/models")[2]["models"]}
    assert not models["cost_model"]["loaded"] and "no cost model" in models["cost_model"]["error"]
    assert models["recommender"]["loaded"] and models["moe"]["loaded"]


def test_calls_to_the_missing_model_get_503_and_the_others_still_answer(service: Service) -> None:
    status, headers, body = service.request(
        "POST", "/v1/predict", {"engine": "postgres", "workload": "SELECT 1", "configs": [{}]}
    )
    assert status == 503 and "failed to load" in body["detail"] and headers.get("retry-after") == "1"
    assert service.request("POST", "/v1/select", {"plans": SPARK_PLANS})[0] == 200
