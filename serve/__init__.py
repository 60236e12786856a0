"""``serve``: knobray's learned tuners behind a Ray Serve HTTP endpoint (``python -m serve``).

Endpoints: ``POST /v1/recommend``, ``POST /v1/predict``, ``POST /v1/select``, ``GET /v1/models``,
``GET /healthz``; OpenAPI at ``/docs`` and ``/openapi.json``.
"""

from serve._app import app_builder, build_app
from serve._settings import MODEL_KINDS, ServeSettings, parse_model_options, read_token, settings_from_args

__all__ = [
    "MODEL_KINDS",
    "ServeSettings",
    "app_builder",
    "build_app",
    "parse_model_options",
    "read_token",
    "settings_from_args",
]
