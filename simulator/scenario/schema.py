"""The sections that say what to judge and report ([slo], [pricing], [[api]], [simulation],
[sweep]), the :class:`Scenario` they form and its JSON Schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from simplan import catalog
from simplan.catalog import RateLimit
from simplan.scenario.engine import vllm_v0_chunking
from simplan.scenario.sections import (
    AutoscalingSection,
    EngineSection,
    FailuresSection,
    HardwareSection,
    ModelSection,
    OverflowSection,
    PositiveInt,
    Pricing,
    WorkloadSection,
    _check_catalog_id,
    _Section,
)

# --- [slo], [pricing], [[api]], [simulation], [sweep] ---------------------------------

_SLO_METRICS = ("ttft", "tpot", "e2e")
_SLO_STATS = ("mean", "p50", "p90", "p95", "p99")


class SloSection(_Section):
    """Latency objectives: `<metric>_<stat>_s` with metric ttft|tpot|e2e and stat mean|pNN."""

    ttft_mean_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    ttft_p50_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    ttft_p90_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    ttft_p95_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    ttft_p99_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tpot_mean_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tpot_p50_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tpot_p90_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tpot_p95_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    tpot_p99_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    e2e_mean_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    e2e_p50_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    e2e_p90_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    e2e_p95_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    e2e_p99_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def objectives(self) -> dict[tuple[str, str], float]:
        """``{(metric, stat): limit_s}`` for the objectives that are set."""
        out = {}
        for m in _SLO_METRICS:
            for s in _SLO_STATS:
                v = getattr(self, f"{m}_{s}_s")
                if v is not None:
                    out[(m, s)] = float(v)
        return out


class InlineApi(_Section):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    usd_per_mtok_input: float = Field(ge=0, allow_inf_nan=False)
    usd_per_mtok_output: float = Field(ge=0, allow_inf_nan=False)
    display_name: str = ""
    source: str = "scenario file"
    rate_limit: RateLimit | None = Field(
        default=None,
        description="Your account's per-minute limits (tier, source and as_of required; "
        "any of requests_per_min, tokens_per_min, input_tokens_per_min, "
        "output_tokens_per_min).",
    )


class PricingSection(_Section):
    apis: list[str] = Field(default_factory=list, description="API catalog ids to compare with.")
    gpu_usd_per_hour: dict[
        str, dict[Pricing, Annotated[float, Field(gt=0, allow_inf_nan=False)]]
    ] = Field(
        default_factory=dict,
        description="Your own GPU-hour prices, by GPU id and pricing mode, e.g. "
        '{"h100-sxm" = {on_demand = 2.9, reserved = 1.9}}; they replace the catalog\'s '
        "for every command (plan and sweep candidates included).",
    )

    billing_increment_s: float = Field(
        default=1.0,
        gt=0,
        le=86400,
        allow_inf_nan=False,
        description="GPU time is billed in these increments (finite jobs); default: per second.",
    )
    billing_minimum_s: float = Field(
        default=60.0,
        ge=0,
        le=30 * 86400,
        allow_inf_nan=False,
        description="Least GPU time billed per instance (finite jobs); default: 60 s.",
    )

    @field_validator("gpu_usd_per_hour")
    @classmethod
    def _gpus_known(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        errors = []
        for name in v:
            try:
                _check_catalog_id("gpu", name)
            except ValueError as exc:
                errors.append(f"{name!r}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return v

    @field_validator("apis")
    @classmethod
    def _apis_known(cls, v: list[str]) -> list[str]:
        errors = []
        for i, name in enumerate(v):
            try:
                _check_catalog_id("api", name)
            except ValueError as exc:
                errors.append(f"[{i}] {name!r}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return v


class SimulationSection(_Section):
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    warmup_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    output_dir: str | None = Field(
        default=None, min_length=1, description="Default: results/<scenario file stem>."
    )
    timeseries_interval_s: float = Field(default=1.0, ge=1e-3, le=86_400, allow_inf_nan=False)
    max_requests: PositiveInt = Field(
        default=500_000,
        le=100_000_000,
        description="The most requests one run may simulate (each keeps a result row of "
        "about 170 bytes and takes about 30 microseconds): a run expected to exceed it is "
        "refused before it starts. Raise it for a longer run.",
    )
    run_to_completion: bool = Field(
        default=False,
        description="Simulate every request of an open-loop workload to its end, as a "
        "benchmark that sends a fixed number of requests measures them all: a saturated "
        "fleet's arrivals are not stopped and its drain is not cut short (the workload's "
        "own num_requests or duration_s bounds the run).",
    )


class RangeAxis(_Section):
    start: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    stop: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    num: PositiveInt = Field(le=100_000)
    log: bool = False

    def values(self) -> list[float]:
        if self.log:
            if self.start <= 0 or self.stop <= 0:
                raise ValueError("a log-spaced axis needs start > 0 and stop > 0")
            return [float(x) for x in np.geomspace(self.start, self.stop, self.num)]
        return [float(x) for x in np.linspace(self.start, self.stop, self.num)]


SweepAxis = list[Any] | RangeAxis


class Scenario(_Section):
    """A validated scenario. Build with :func:`load_scenario` or :func:`scenario_from_dict`."""

    name: str | None = Field(default=None, description="Short title shown in reports.")
    question: str | None = Field(default=None, description="The question this scenario asks.")
    model: ModelSection
    hardware: HardwareSection
    engine: EngineSection = Field(default_factory=EngineSection)
    workload: WorkloadSection
    slo: SloSection = Field(default_factory=SloSection)
    pricing: PricingSection = Field(default_factory=PricingSection)
    api: list[InlineApi] = Field(default_factory=list)
    simulation: SimulationSection = Field(default_factory=SimulationSection)
    autoscaling: AutoscalingSection | None = None
    failures: FailuresSection | None = None
    overflow: OverflowSection | None = None
    sweep: dict[str, SweepAxis] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _engine_defaults_for_the_model(cls, data: Any) -> Any:
        # TensorRT-LLM's KV dtype "auto" follows the checkpoint, and FP8 checkpoints
        # quantize the KV cache too (kv_cache_quant_algo); vLLM keeps the model dtype.
        if not isinstance(data, dict):
            return data
        engine, model = data.get("engine"), data.get("model")
        if (
            isinstance(engine, dict)
            and engine.get("name") == "tensorrt-llm"
            and isinstance(model, dict)
            and model.get("weights") == "fp8"
            and "kv_cache" not in model
        ):
            return {**data, "model": {**model, "kv_cache": "fp8"}}
        if isinstance(engine, dict) and engine.get("version") == "v0" and isinstance(model, dict):
            context = _max_context(model)
            if context is not None:
                defaults = vllm_v0_chunking(context)
                return {**data, "engine": {**defaults, **engine}}
        return data

    @model_validator(mode="after")
    def _overflow_api_known(self) -> Scenario:
        if self.overflow is not None:
            inline = {a.id for a in self.api}
            if self.overflow.api not in inline:
                try:
                    _check_catalog_id("api", self.overflow.api)
                except ValueError as exc:
                    raise ValueError(f"overflow.api {self.overflow.api!r}: {exc}") from None
        if self.autoscaling is not None and self.hardware.disaggregated:
            raise ValueError(
                "[autoscaling] scales the [hardware] pool of a colocated fleet; with prefill "
                "and decode pools, size each pool with its replicas"
            )
        if self.autoscaling is not None and self.hardware.replicas > self.autoscaling.max_replicas:
            raise ValueError(
                f"hardware.replicas ({self.hardware.replicas}) exceeds autoscaling.max_replicas "
                f"({self.autoscaling.max_replicas})"
            )
        return self

    _source_path: str | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> str | None:
        """The file this scenario was read from (relative paths inside it resolve against it)."""
        return self._source_path

    def resolve_path(self, relative: str) -> Path:
        """Resolve a path written in the scenario file against the file's folder."""
        p = Path(relative)
        if p.is_absolute() or self._source_path is None:
            return p
        return Path(self._source_path).parent / p

    @field_validator("sweep")
    @classmethod
    def _axes_nonempty(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, axis in v.items():
            if isinstance(axis, list) and not axis:
                raise ValueError(f"sweep axis {key!r} is empty")
            if key.split(".")[0] == "sweep":
                raise ValueError(f"sweep axis {key!r} cannot sweep the sweep")
        return v


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (for editors: taplo, Even Better TOML, VS Code)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "simplan scenario"
    return schema


def _max_context(model: dict[str, Any]) -> int | None:
    """The model's context length from its raw section (None when not known yet: a
    config.json path or a bad name is validated, and reported, later)."""
    arch = model.get("architecture")
    if isinstance(arch, dict) and isinstance(arch.get("max_context_tokens"), int):
        return int(arch["max_context_tokens"])
    name = model.get("name")
    entries = catalog.load("model")
    if isinstance(name, str) and name in entries:
        return int(entries[name].max_context_tokens)
    return None
