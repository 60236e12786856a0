"""The service's request and response bodies (JSON, validated by pydantic; they make ``/openapi.json``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Engine = Literal["postgres", "mariadb"]
KnobValue = int | float | str | bool
Finite = Annotated[float, Field(allow_inf_nan=False)]
MAX_QUERIES = 500
MAX_SQL_CHARS = 200_000
MAX_CONFIGS = 256
MAX_PLANS = 64


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Slot(Strict):
    """The server being tuned (default: the service machine's CPUs and memory)."""

    cpus: int = Field(ge=1, le=1024, description="logical CPUs")
    memory_gb: float = Field(ge=0.25, le=65536, description="memory in GiB")


class Current(Strict):
    """Multi-step: the configuration the server runs now, and what one run under it showed."""

    config: dict[str, KnobValue] = Field(default_factory=dict, max_length=200)
    metrics: dict[str, Finite] = Field(
        default_factory=dict, max_length=200, description="counters per second"
    )
    latency_ratio: float = Field(
        default=0.0, ge=0, le=1000, description="its mean latency over the default's"
    )


SqlText = Annotated[str, Field(min_length=1, max_length=MAX_SQL_CHARS)]
Workload = SqlText | Annotated[list[SqlText], Field(min_length=1, max_length=MAX_QUERIES)]
WORKLOAD_DOC = "SQL text (statements separated by ';') or a list of queries; parsed, never executed"


class RecommendRequest(Strict):
    engine: Engine
    workload: Workload = Field(description=WORKLOAD_DOC)
    slot: Slot | None = None
    current: Current | None = None
    candidates: int = Field(default=8, ge=1, le=32, description="configurations sampled, then ranked")
    top: int = Field(default=3, ge=1, le=8, description="configurations returned")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    model: str | None = Field(default=None, max_length=100, description="recommender id (GET /v1/models)")
    cost_model: str | None = Field(default=None, max_length=100, description="cost model id that ranks")


class RecommendedConfig(BaseModel):
    config: dict[str, KnobValue]
    predicted_ratio: float = Field(description="predicted latency over the default's (not measured)")
    predicted_gain_pct: float
    statements: list[str] = Field(description="ALTER SYSTEM / SET GLOBAL statements, restart needs noted")
    config_file: str = Field(description="postgresql.conf / my.cnf lines")


class RecommendResponse(BaseModel):
    engine: str
    slot: str
    recommendations: list[RecommendedConfig]
    model: str
    cost_model: str


class PredictRequest(Strict):
    engine: Engine
    workload: Workload = Field(description=WORKLOAD_DOC)
    configs: list[dict[str, KnobValue]] = Field(min_length=1, max_length=MAX_CONFIGS)
    slot: Slot | None = None
    model: str | None = Field(default=None, max_length=100, description="cost model id (GET /v1/models)")


class Prediction(BaseModel):
    total_latency_s: float
    ratio_to_default: float


class PredictResponse(BaseModel):
    engine: str
    slot: str
    default_latency_s: float = Field(description="predicted total latency under the default configuration")
    predictions: list[Prediction]
    model: str


class SelectRequest(Strict):
    plans: list[SqlText] = Field(
        min_length=1, max_length=MAX_PLANS, description="one Spark EXPLAIN EXTENDED text per query"
    )
    model: str | None = Field(default=None, max_length=100, description="MoE id (GET /v1/models)")


class SelectResponse(BaseModel):
    engine: str
    lake: str
    config: str
    predicted_ratio: float = Field(description="predicted latency over the best choice's (1 = best)")
    mode: str
    benchmark: str
    model: str


class ModelInfo(BaseModel):
    kind: str
    id: str
    path: str
    version: str | None
    loaded: bool
    error: str | None
    calls: int = Field(description="calls answered by this kind's replica (all its models)")
    batches: int = Field(description="model runs that answered them (fewer than calls when batched)")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ready", "not ready"]
    problems: list[str]


class ErrorBody(BaseModel):
    detail: str
