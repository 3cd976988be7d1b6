"""The scenario file: one TOML file, one deployment question.

:func:`load_scenario` reads a file and returns a validated :class:`Scenario`, or raises a
:class:`~simplan.errors.ScenarioError` that names the file, the key path, the bad value,
what is allowed and, for catalog ids, the nearest valid id. Field names equal TOML keys.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from simplan import catalog
from simplan.errors import Problem, ScenarioError, format_key_path, nearest

PositiveInt = Annotated[int, Field(ge=1)]

#: The most replicas one pool (or autoscaled fleet) may have.
MAX_REPLICAS = 4096
#: Token lengths beyond ten million are no real request (and overflow int64 arithmetic).
TokenCount = Annotated[int, Field(ge=1, le=10_000_000)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _check_catalog_id(kind: str, value: str) -> str:
    entries = catalog.load(kind)
    if value not in entries:
        hint = nearest(value, entries)
        did = f"; did you mean {hint!r}?" if hint else ""
        shown = ", ".join(sorted(entries))
        raise ValueError(f"unknown id{did} (allowed: {shown})")
    return value


# --- [model] ---------------------------------------------------------------------------


class InlineArchitecture(_Section):
    """An architecture given inline instead of a catalog id (same fields as the catalog)."""

    num_layers: PositiveInt
    hidden_size: PositiveInt
    num_attention_heads: PositiveInt
    num_kv_heads: PositiveInt
    head_dim: PositiveInt
    intermediate_size: PositiveInt
    vocab_size: PositiveInt
    max_context_tokens: PositiveInt
    total_params_b: float = Field(gt=0)
    active_params_b: float | None = Field(default=None, gt=0)
    gated_mlp: bool = True
    tie_word_embeddings: bool = False
    attention: Literal["mha", "gqa", "mla"] = "gqa"
    num_experts: int = Field(default=0, ge=0)
    experts_per_token: int = Field(default=0, ge=0)
    moe_intermediate_size: int = Field(default=0, ge=0)
    num_shared_experts: int = Field(default=0, ge=0)
    first_dense_layers: int = Field(default=0, ge=0)
    kv_lora_rank: int = Field(default=0, ge=0)
    q_lora_rank: int = Field(default=0, ge=0)
    qk_nope_head_dim: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)


class ModelSection(_Section):
    name: str | None = Field(
        default=None, description="Model catalog id (`simplan catalog models`)."
    )
    architecture: InlineArchitecture | None = Field(
        default=None, description="Inline architecture, instead of `name`."
    )
    weights: str = Field(default="fp16", description="Weight quantization scheme id.")
    kv_cache: str = Field(default="fp16", description="KV-cache dtype id.")

    @field_validator("name")
    @classmethod
    def _name_known(cls, v: str | None) -> str | None:
        return None if v is None else _check_catalog_id("model", v)

    @field_validator("weights")
    @classmethod
    def _weights_known(cls, v: str) -> str:
        return _check_catalog_id("weights", v)

    @field_validator("kv_cache")
    @classmethod
    def _kv_known(cls, v: str) -> str:
        return _check_catalog_id("kv_cache", v)

    @model_validator(mode="after")
    def _one_of(self) -> ModelSection:
        if (self.name is None) == (self.architecture is None):
            raise ValueError(
                "give exactly one of `name` (a catalog id) or `architecture` (a table)"
            )
        if self.architecture is not None:
            # the same consistency checks as catalog entries (heads, experts, MLA ranks)
            try:
                self.arch()
            except ValidationError as exc:
                msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
                raise ValueError(f"inconsistent architecture: {msgs}") from None
        return self

    def arch(self) -> catalog.ModelArch:
        """The architecture: the catalog entry, or the inline table as a catalog entry."""
        if self.name is not None:
            return catalog.model(self.name)
        assert self.architecture is not None
        data = self.architecture.model_dump()
        if data["active_params_b"] is None:
            data["active_params_b"] = data["total_params_b"]
        return catalog.ModelArch.model_validate(
            {"id": "inline", "source": "scenario file (inline)", "as_of": "2000-01-01", **data}
        )


# --- [hardware] ------------------------------------------------------------------------

Pricing = Literal["on_demand", "spot", "reserved"]


class PoolSection(_Section):
    """One pool of identical replicas in a mixed fleet."""

    gpu: str
    tp: PositiveInt = Field(default=1, le=64)
    pp: PositiveInt = Field(default=1, le=256)
    replicas: PositiveInt = Field(default=1, le=MAX_REPLICAS)
    pricing: Pricing = "on_demand"
    price_usd_per_gpu_hour: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    interruptions_per_hour: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        allow_inf_nan=False,
        description="Spot pools: mean interruptions per replica-hour (the provider takes the "
        "instance back); interrupted replicas are replaced after a cold start.",
    )
    interruption_notice_s: float = Field(default=120.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _spot_only(self) -> PoolSection:
        if self.interruptions_per_hour > 0 and self.pricing != "spot":
            raise ValueError("interruptions_per_hour applies to pricing = 'spot' pools only")
        return self

    @field_validator("gpu")
    @classmethod
    def _gpu_known(cls, v: str) -> str:
        return _check_catalog_id("gpu", v)


class HardwareSection(PoolSection):
    """The replica configuration; `pools` adds further pools of other GPU types."""

    pools: list[PoolSection] = Field(default_factory=list)


# --- [engine] --------------------------------------------------------------------------


class EngineSection(_Section):
    """vLLM-style engine knobs, with vLLM's meaning."""

    max_num_seqs: PositiveInt = Field(default=256, le=65536)
    max_num_batched_tokens: PositiveInt = Field(default=8192, le=1_048_576)
    gpu_memory_utilization: float = Field(default=0.90, gt=0.0, le=1.0)
    block_size: Literal[1, 8, 16, 32, 64, 128, 256] = 16
    chunked_prefill: bool = True
    scheduler: Literal["continuous", "static"] = "continuous"
    router: Literal["round_robin", "least_outstanding", "least_kv_load"] = "least_outstanding"


# --- [workload] ------------------------------------------------------------------------


class FixedLength(_Section):
    distribution: Literal["fixed"]
    value: TokenCount


class UniformLength(_Section):
    distribution: Literal["uniform"]
    low: TokenCount
    high: TokenCount

    @model_validator(mode="after")
    def _ordered(self) -> UniformLength:
        if self.high < self.low:
            raise ValueError(f"`high` ({self.high}) must be >= `low` ({self.low})")
        return self


class NormalLength(_Section):
    """Normal or lognormal token lengths given by their mean and standard deviation."""

    distribution: Literal["normal", "lognormal"]
    mean: float = Field(ge=1, le=1e7, allow_inf_nan=False)
    std: float = Field(ge=0, le=1e8, allow_inf_nan=False)
    min: TokenCount = 1
    max: TokenCount | None = None


class EmpiricalLength(_Section):
    distribution: Literal["empirical"]
    path: str = Field(min_length=1, description="CSV file, relative to the scenario file.")
    column: str = Field(min_length=1)


LengthSpec = Annotated[
    FixedLength | UniformLength | NormalLength | EmpiricalLength,
    Field(discriminator="distribution"),
]

Arrival = Literal["poisson", "gamma", "constant", "offline", "closed", "trace"]


class WorkloadSection(_Section):
    arrival: Arrival = "poisson"
    rate_per_s: float | None = Field(default=None, ge=1e-6, le=1e9, allow_inf_nan=False)
    burstiness: float = Field(
        default=1.0, gt=0, le=1e4, description="Gamma arrivals: squared coefficient of variation."
    )
    concurrency: PositiveInt | None = Field(default=None, le=1_000_000)
    think_time_s: float = Field(default=0.0, ge=0, le=86_400.0, allow_inf_nan=False)
    duration_s: float | None = Field(default=None, gt=0, le=10 * 365 * 86400, allow_inf_nan=False)
    num_requests: PositiveInt | None = Field(default=None, le=100_000_000)
    input_tokens: TokenCount | LengthSpec = 512
    output_tokens: TokenCount | LengthSpec = 256
    diurnal: list[Annotated[float, Field(ge=0, le=1e3, allow_inf_nan=False)]] | None = Field(
        default=None, min_length=24, max_length=24, description="24 hourly rate multipliers."
    )
    trace: str | None = Field(default=None, min_length=1, description="CSV path (see docs).")
    deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=10 * 365 * 86400,
        allow_inf_nan=False,
        description="A finite job (arrival = 'offline'): the time by which it must finish.",
    )
    monthly_tokens: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Monthly volume (input + output tokens) for cost figures; "
        "default: the simulated rate sustained for a 30-day month.",
    )

    @model_validator(mode="after")
    def _arrival_needs(self) -> WorkloadSection:
        a = self.arrival
        if a in ("poisson", "gamma", "constant") and self.rate_per_s is None:
            raise ValueError(f"arrival = {a!r} needs `rate_per_s`")
        if a == "closed" and self.concurrency is None:
            raise ValueError("arrival = 'closed' needs `concurrency`")
        if a == "trace" and self.trace is None:
            raise ValueError("arrival = 'trace' needs `trace` (a CSV path)")
        if a == "offline" and self.num_requests is None:
            raise ValueError("arrival = 'offline' needs `num_requests`")
        if self.deadline_s is not None and a != "offline":
            raise ValueError(
                "`deadline_s` belongs to a finite job: set arrival = 'offline' and "
                "num_requests (or remove deadline_s)"
            )
        if a not in ("trace", "offline") and self.duration_s is None and self.num_requests is None:
            raise ValueError("give `duration_s` or `num_requests` to bound the run")
        if self.diurnal is not None and a != "poisson":
            raise ValueError("`diurnal` multipliers apply to arrival = 'poisson' only")
        if self.diurnal is not None and max(self.diurnal) <= 0:
            raise ValueError("`diurnal` needs at least one positive multiplier")
        return self


# --- [autoscaling], [failures], [overflow] --------------------------------------------


class AutoscalingSection(_Section):
    """Autoscaling of the [hardware] pool (extra pools keep a fixed size)."""

    policy: Literal["target_utilization", "queue_length", "kv_load", "scheduled"] = (
        "target_utilization"
    )
    target: float = Field(
        default=0.7,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        description="target_utilization / scheduled: share of each replica's capacity under "
        "the SLO; queue_length: outstanding requests per replica; kv_load: KV-cache share.",
    )
    min_replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max_replicas: PositiveInt = Field(default=8, le=MAX_REPLICAS)
    interval_s: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    scale_down_delay_s: float = Field(default=300.0, ge=0, allow_inf_nan=False)
    instance_start_s: float = Field(
        default=120.0,
        ge=0,
        allow_inf_nan=False,
        description="Instance start before weights load (VM, container, engine start-up).",
    )
    storage_gb_per_s: float = Field(
        default=2.0,
        gt=0,
        allow_inf_nan=False,
        description="Bandwidth at which a new replica loads its weights (cold start).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSection:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        if self.policy in ("target_utilization", "kv_load", "scheduled") and self.target > 1:
            raise ValueError(f"policy {self.policy!r} takes target as a share in (0, 1]")
        return self


class FailuresSection(_Section):
    """Replica failures: exponential times between failures, a fixed repair time."""

    mtbf_hours: float = Field(gt=0, allow_inf_nan=False)
    repair_s: float = Field(default=3600.0, ge=0, allow_inf_nan=False)


class OverflowSection(_Section):
    """Send requests to an API when the self-hosted fleet is too busy (hybrid serving)."""

    api: str = Field(min_length=1, description="API catalog id (or an inline [[api]] id).")
    max_queue_per_replica: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Overflow when every replica has at least this many waiting requests.",
    )
    rate_cap_per_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Self-host at most this many requests per second; the rest go to the API.",
    )
    ttft_s: float = Field(
        default=0.6, gt=0, allow_inf_nan=False, description="Mean API time to first token."
    )
    ttft_std_s: float = Field(default=0.3, ge=0, allow_inf_nan=False)
    output_tokens_per_s: float = Field(
        default=60.0, gt=0, allow_inf_nan=False, description="API streaming speed per request."
    )

    @model_validator(mode="after")
    def _some_trigger(self) -> OverflowSection:
        if self.max_queue_per_replica is None and self.rate_cap_per_s is None:
            raise ValueError("give max_queue_per_replica or rate_cap_per_s (when to overflow)")
        return self


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


class RangeAxis(_Section):
    start: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    stop: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    num: PositiveInt = Field(le=100_000)
    log: bool = False

    def values(self) -> list[float]:
        import numpy as np

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

    @model_validator(mode="after")
    def _overflow_api_known(self) -> Scenario:
        if self.overflow is not None:
            inline = {a.id for a in self.api}
            if self.overflow.api not in inline:
                try:
                    _check_catalog_id("api", self.overflow.api)
                except ValueError as exc:
                    raise ValueError(f"overflow.api {self.overflow.api!r}: {exc}") from None
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


# --- loading ---------------------------------------------------------------------------


def _problems_from(exc: ValidationError) -> list[Problem]:
    errors = exc.errors(include_url=False)
    # A value that may be a number or a table (lengths, sweep axes): when the user wrote a
    # table, the "should be a number/list" error of the other branch is noise.
    table_locs = {
        _user_loc(e["loc"])[:-1] if e["type"] != "missing" else _user_loc(e["loc"])
        for e in errors
        if any(_branch_model(p) for p in e["loc"])
    }
    problems = []
    for err in errors:
        raw_loc = tuple(err["loc"])
        loc = _user_loc(raw_loc)
        if (
            err["type"] in _SCALAR_BRANCH_ERRORS
            and loc in table_locs
            and isinstance(err.get("input"), dict)
        ):
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            branch = next((m for m in map(_branch_model, reversed(raw_loc)) if m), None)
            allowed = list(branch.model_fields) if branch else _allowed_keys(loc[:-1])
            hint = nearest(str(loc[-1]), allowed) if allowed else None
            msg = "unknown key" + (f"; did you mean {hint!r}?" if hint else "")
            if allowed:
                msg += f" (allowed: {', '.join(allowed)})"
        elif err["type"] == "missing":
            msg = "required key is missing"
        value = err.get("input")
        has_value = err["type"] not in ("missing",) and not isinstance(value, dict)
        problems.append(Problem(format_key_path(loc), msg, value, has_value))
    # Union errors repeat the same location once per branch; keep the first message per path.
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(p.key_path + p.message, p)
    return list(seen.values())


_SCALAR_BRANCH_ERRORS = {"int_type", "int_parsing", "list_type", "float_type", "int_from_float"}


def _user_loc(loc: Any) -> tuple[Any, ...]:
    """The location without pydantic's union-branch tags: the user's key path."""
    return tuple(p for p in loc if not _is_branch_tag(p))


_BRANCH_MODELS: dict[str, type[BaseModel]] = {
    "fixed": FixedLength,
    "uniform": UniformLength,
    "normal": NormalLength,
    "lognormal": NormalLength,
    "empirical": EmpiricalLength,
    "RangeAxis": RangeAxis,
}


def _branch_model(part: object) -> type[BaseModel] | None:
    return _BRANCH_MODELS.get(part) if isinstance(part, str) else None


def _is_branch_tag(part: object) -> bool:
    return isinstance(part, str) and (
        part in ("int", "float", "str", "bool", "list[any]", "RangeAxis")
        or part.startswith(("function-", "tagged-union", "constrained-"))
        or part in ("fixed", "uniform", "normal", "lognormal", "empirical")
    )


_SECTION_TYPES: dict[str, type[BaseModel]] = {
    "autoscaling": AutoscalingSection,
    "failures": FailuresSection,
    "overflow": OverflowSection,
    "model": ModelSection,
    "hardware": HardwareSection,
    "engine": EngineSection,
    "workload": WorkloadSection,
    "slo": SloSection,
    "pricing": PricingSection,
    "simulation": SimulationSection,
}


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    if not loc:
        return list(Scenario.model_fields)
    if len(loc) == 1 and loc[0] in _SECTION_TYPES:
        return list(_SECTION_TYPES[loc[0]].model_fields)
    if loc[:2] == ("model", "architecture"):
        return list(InlineArchitecture.model_fields)
    if loc[0] == "api":
        return list(InlineApi.model_fields)
    if loc[:2] == ("hardware", "pools"):
        return list(PoolSection.model_fields)
    return []


def _apply_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = raw
    for part in parts[:-1]:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise KeyError(dotted)
        cur = nxt
    cur[parts[-1]] = value


def _sweep_key_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    model: type[BaseModel] | None = Scenario
    for part in parts:
        if model is None or part not in model.model_fields:
            return False
        ann = model.model_fields[part].annotation
        if getattr(ann, "__origin__", None) is list and part != parts[-1]:
            return False  # inside an array of tables ([[hardware.pools]], [[api]])
        model = _section_type(ann)
    return True


def _section_type(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _validate_sweep(raw: dict[str, Any], scenario: Scenario, source: str) -> None:
    problems: list[Problem] = []
    for key, axis in scenario.sweep.items():
        path = f'sweep."{key}"'
        if not _sweep_key_exists(key):
            leaf_parent = ".".join(key.split(".")[:-1])
            allowed = _allowed_keys(tuple(leaf_parent.split("."))) if leaf_parent else []
            hint = nearest(key.split(".")[-1], allowed) if allowed else None
            msg = (
                "not a scenario key path that can be swept (keys inside arrays of tables cannot be)"
            )
            if hint:
                msg += f"; did you mean {leaf_parent + '.' + hint!r}?"
            problems.append(Problem(path, msg, key, True))
            continue
        try:
            values = axis.values() if isinstance(axis, RangeAxis) else axis
        except ValueError as exc:
            problems.append(Problem(path, str(exc)))
            continue
        indices = range(len(values))
        if isinstance(axis, RangeAxis):
            # a range is validated at its two ends: every constraint on one number is an
            # interval, so a value inside the range fails only if an end does (a range
            # of 100,000 values is checked in milliseconds, not validated 100,000 times)
            indices = (
                range(len(values)) if len(values) <= 2 else range(0, len(values), len(values) - 1)
            )
        for i in indices:
            value = values[i]
            trial = copy.deepcopy(raw)
            trial.pop("sweep", None)
            if isinstance(axis, RangeAxis) and key.split(".")[-1] in _INT_KEYS:
                value = round(value)  # a numeric range over an integer key
            _apply_path(trial, key, value)
            try:
                Scenario.model_validate(trial)
            except ValidationError as exc:
                for p in _problems_from(exc):
                    problems.append(
                        Problem(f"{path}[{i}]", f"{p.key_path}: {p.message}", value, True)
                    )
    if problems:
        raise ScenarioError("invalid [sweep] axis", problems, source=source)


_INT_KEYS = {
    "tp",
    "pp",
    "replicas",
    "max_num_seqs",
    "max_num_batched_tokens",
    "concurrency",
    "num_requests",
    "input_tokens",
    "output_tokens",
    "seed",
}


def scenario_from_dict(raw: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML).

    Raises
    ------
    ScenarioError
        With one :class:`~simplan.errors.Problem` per bad key.
    """
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems = _problems_from(exc)
        raise ScenarioError(
            f"invalid scenario ({len(problems)} problem{'s' * (len(problems) != 1)})",
            problems,
            source=source,
        ) from None
    if scenario.sweep:
        _validate_sweep(raw, scenario, source)
    return scenario


def trial_scenario(
    raw: dict[str, Any],
    overrides: dict[str, Any],
    source: str,
) -> Scenario:
    """A scenario built from a parsed file with dotted-key overrides (``[sweep]`` dropped).

    The one way ``sweep`` points, ``plan`` candidates and verification runs are made;
    an override of None removes the key. Files the scenario names are already absolute
    in a dict from :func:`read_scenario_dict`.
    """
    trial = copy.deepcopy(raw)
    trial.pop("sweep", None)
    for key, value in overrides.items():
        if value is None:
            *parents, leaf = key.split(".")
            cur: Any = trial
            for part in parents:
                cur = cur.get(part, {}) if isinstance(cur, dict) else {}
            if isinstance(cur, dict):
                cur.pop(leaf, None)
        else:
            _apply_path(trial, key, value)
    return scenario_from_dict(trial, source=source)


def read_scenario_dict(path: str | Path) -> dict[str, Any]:
    """Read a scenario file's TOML into a dict, with clear errors for unreadable files."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError("no such scenario file", source=str(p))
    if p.is_dir():
        raise ScenarioError("is a directory, not a scenario file", source=str(p))
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", source=str(p)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            f"not UTF-8 text (bad byte at line {line}); TOML files must be UTF-8", source=str(p)
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", source=str(p)) from None
    except RecursionError:
        raise ScenarioError(
            "not a usable TOML file: tables or arrays nested too deeply", source=str(p)
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ScenarioError(f"not a usable TOML file: {exc}", source=str(p)) from None
    return resolve_file_paths(raw, p.resolve().parent)


#: Keys whose values name files, written relative to the scenario file.
_FILE_KEYS = ("workload.trace", "workload.input_tokens.path", "workload.output_tokens.path")


def resolve_file_paths(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Make every file a scenario names (traces, length CSVs) absolute, against ``base_dir``.

    Done once when a file is read, so every scenario built from it (sweep points, plan
    candidates, verification runs, Dask workers in another folder) reads the same files
    whatever the current folder. Sweep axes over these keys are resolved too.
    """

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(base_dir / value)
        return value

    def fix_at(table: Any, dotted: str) -> None:
        *parents, leaf = dotted.split(".")
        for part in parents:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict) and leaf in table:
            table[leaf] = fix(table[leaf])

    for key in _FILE_KEYS:
        fix_at(raw, key)
    sweep = raw.get("sweep")
    if isinstance(sweep, dict):
        for axis, values in sweep.items():
            if not isinstance(values, list):
                continue
            for i, value in enumerate(values):
                if axis in _FILE_KEYS:
                    values[i] = fix(value)
                elif isinstance(value, dict):  # a whole table, e.g. "workload.input_tokens"
                    for key in _FILE_KEYS:
                        prefix = axis + "."
                        if key.startswith(prefix):
                            fix_at(value, key[len(prefix) :])
    return raw


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        A TOML scenario file.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        If the file cannot be read, is not TOML, or does not validate.
    """
    raw = read_scenario_dict(path)
    scenario = scenario_from_dict(raw, source=str(path))
    scenario._source_path = str(path)
    return scenario


def scenario_hash(scenario: Scenario) -> str:
    """A short stable hash of a scenario's validated content (for provenance)."""
    import hashlib

    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
