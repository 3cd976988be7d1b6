"""The sections of a scenario file that describe the deployment and its load: [model],
[hardware] (and its pools), [engine], [workload], [autoscaling], [failures] and
[overflow]. Field names equal TOML keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from simplan import catalog
from simplan.scenario.base import (
    MAX_REPLICAS,
    FiniteFloat,
    PositiveInt,
    TokenCount,
    _check_catalog_id,
    _Section,
)
from simplan.scenario.lengths import (
    EmpiricalLength,
    FixedLength,
    LengthSpec,
    NormalLength,
    UniformLength,
)
from simplan.scenario.sessions import SessionsSection
from simplan.scenario.speculative import SpeculativeSection

__all__ = [
    "MAX_REPLICAS",
    "EmpiricalLength",
    "FiniteFloat",
    "FixedLength",
    "LengthSpec",
    "NormalLength",
    "PositiveInt",
    "TokenCount",
    "UniformLength",
    "_Section",
    "_check_catalog_id",
]


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
    config: str | None = Field(
        default=None,
        min_length=1,
        description="A Hugging Face config.json (a path, relative to the scenario file), "
        "instead of `name`.",
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
        given = [x is not None for x in (self.name, self.architecture, self.config)]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of `name` (a catalog id), `architecture` (a table) or "
                "`config` (a Hugging Face config.json)"
            )
        if self.architecture is not None or self.config is not None:
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
        if self.config is not None:
            from simplan.hf_config import architecture_from_config

            fields = architecture_from_config(self.config)
            return catalog.ModelArch.model_validate(
                {
                    "id": Path(self.config).parent.name or "config",
                    "source": self.config,
                    "as_of": "2000-01-01",
                    **fields,
                }
            )
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
    role: Literal["both", "prefill", "decode"] = Field(
        default="both",
        description="Prefill/decode disaggregation: 'prefill' replicas only compute "
        "prompts and send their KV cache to a 'decode' replica, which generates the rest. "
        "Default: both, on the same replica.",
    )

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
    kv_transfer_gb_per_s: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="Disaggregated fleets: the link each GPU sends its KV shard over, GB/s "
        "(default: the inter-node network, 25 GB/s per GPU; NVLink within a node is "
        "faster).",
    )

    @model_validator(mode="after")
    def _roles_pair_up(self) -> HardwareSection:
        roles = {self.role, *(p.role for p in self.pools)}
        if roles != {"both"} and roles != {"prefill", "decode"}:
            raise ValueError(
                "role: a disaggregated fleet needs prefill pools and decode pools and no "
                f"'both' pool (roles given: {', '.join(sorted(roles))})"
            )
        if self.kv_transfer_gb_per_s is not None and roles == {"both"}:
            raise ValueError("kv_transfer_gb_per_s applies to prefill/decode pools only")
        return self

    @property
    def disaggregated(self) -> bool:
        """Whether prefill and decode run on separate pools."""
        return self.role != "both"


# --- [engine] --------------------------------------------------------------------------


class CalibrationFactors(_Section):
    """Deployment-specific factors of the performance model (``simplan calibrate`` fits
    them from benchmark logs; see docs/calibrate.md). Unset factors keep the catalog's."""

    compute_efficiency_scale: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="Multiplies the GEMM and prefill-attention compute efficiencies.",
    )
    memory_efficiency_scale: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="Multiplies the weight-read, elementwise and decode-attention memory "
        "efficiencies.",
    )
    iteration_overhead_s: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Engine (host) time per scheduler iteration, replacing the catalog's.",
    )
    sequence_overhead_s: float | None = Field(
        default=None,
        ge=0,
        le=0.1,
        description="Engine (host) time per sequence in each iteration (scheduling, "
        "sampling, output processing); the catalog's is 0.",
    )
    gpu: str | None = Field(
        default=None,
        description="The GPU these factors were measured on: replicas on other GPUs keep "
        "the catalog's factors. Default: every GPU.",
    )

    @field_validator("gpu")
    @classmethod
    def _gpu_known(cls, v: str | None) -> str | None:
        return v if v is None else _check_catalog_id("gpu", v)


#: TensorRT-LLM's defaults where they differ from vLLM's (trtllm-serve and the LLM API,
#: 2025: BuildConfig max_batch_size 2048 and max_num_tokens 8192; KvCacheConfig
#: free_gpu_memory_fraction 0.9; CapacitySchedulerPolicy.GUARANTEED_NO_EVICT). Its
#: in-flight batching runs context and generation requests in the same step whether or
#: not chunked context is on (that only splits prompts longer than the token budget), so
#: simplan's mixed iterations (chunked_prefill = true) are its schedule. See
#: docs/model.md, "Engines".
TRTLLM_DEFAULTS = {
    "max_num_seqs": 2048,
    "max_num_batched_tokens": 8192,
    "kv_cache_free_gpu_mem_fraction": 0.9,
    "scheduler_policy": "guaranteed_no_evict",
}
_TRTLLM_ONLY = ("kv_cache_free_gpu_mem_fraction", "scheduler_policy")


class EngineSection(_Section):
    """Engine knobs. ``name`` picks the serving engine whose memory semantics, admission
    and defaults apply; the knobs keep vLLM's names (TensorRT-LLM's max_batch_size is
    ``max_num_seqs``, its max_num_tokens ``max_num_batched_tokens``)."""

    name: Literal["vllm", "tensorrt-llm"] = "vllm"
    kv_cache_free_gpu_mem_fraction: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="TensorRT-LLM: the share of the memory left after the weights and "
        "activations that the KV cache takes (default 0.9).",
    )
    scheduler_policy: Literal["guaranteed_no_evict", "max_utilization"] | None = Field(
        default=None,
        description="TensorRT-LLM: guaranteed_no_evict (default) reserves each request's "
        "KV for its whole output at admission, so nothing is ever preempted; "
        "max_utilization admits on the prompt and may pause requests, as vLLM does.",
    )

    max_num_seqs: PositiveInt = Field(default=256, le=65536)
    max_num_batched_tokens: PositiveInt = Field(default=8192, le=1_048_576)
    gpu_memory_utilization: float = Field(default=0.90, gt=0.0, le=1.0)
    block_size: Literal[1, 8, 16, 32, 64, 128, 256] = 16
    chunked_prefill: bool = True
    scheduler: Literal["continuous", "static"] = "continuous"
    router: Literal["round_robin", "least_outstanding", "least_kv_load", "prefix_aware"] = (
        "least_outstanding"
    )
    enable_prefix_caching: bool = Field(
        default=True,
        description="Keep the KV blocks of prompt prefixes for later requests (vLLM's "
        "automatic prefix caching, on by default in its V1 engine; TensorRT-LLM's "
        "enable_block_reuse). Hits skip prefill but still occupy KV; unreferenced cached "
        "blocks are evicted least recently used first.",
    )
    speculative: SpeculativeSection | None = Field(
        default=None, description="Speculative decoding ([engine.speculative])."
    )
    calibration: str | CalibrationFactors | None = Field(
        default=None,
        description="A calibration profile written by `simplan calibrate` (a path, relative "
        "to the scenario file), or the factors inline.",
    )

    @model_validator(mode="before")
    @classmethod
    def _engine_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("name") == "tensorrt-llm":
            return {**TRTLLM_DEFAULTS, **data}
        return data

    @model_validator(mode="after")
    def _knobs_of_the_engine(self) -> EngineSection:
        if self.name == "tensorrt-llm" and "gpu_memory_utilization" in self.model_fields_set:
            raise ValueError(
                "gpu_memory_utilization is vLLM's (a share of all GPU memory); TensorRT-LLM "
                "sizes its KV cache with kv_cache_free_gpu_mem_fraction, a share of the "
                "memory left after the weights and activations"
            )
        if self.name == "vllm":
            given = [k for k in _TRTLLM_ONLY if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} belong(s) to TensorRT-LLM: set name = 'tensorrt-llm' "
                    "(vLLM sizes its KV cache with gpu_memory_utilization)"
                )
        return self

    @model_validator(mode="after")
    def _speculation_batches_continuously(self) -> EngineSection:
        if self.speculative is not None and self.speculative.active and self.scheduler == "static":
            raise ValueError(
                "speculative decoding needs scheduler = 'continuous' (static batching here "
                "models engines without it)"
            )
        return self

    @property
    def reserves_whole_output(self) -> bool:
        """Whether admission reserves a request's KV for its whole output (no preemption)."""
        return self.scheduler == "static" or self.scheduler_policy == "guaranteed_no_evict"

    @field_validator("calibration")
    @classmethod
    def _path_given(cls, v: str | CalibrationFactors | None) -> str | CalibrationFactors | None:
        if isinstance(v, str) and not v.strip():
            raise ValueError("an empty path: name a profile written by `simplan calibrate`")
        return v


# --- [workload] ------------------------------------------------------------------------


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
    shared_prefix_tokens: TokenCount | None = Field(
        default=None,
        description="Tokens every prompt starts with that other requests share (a system "
        "prompt, few-shot examples, a document): the prompt is these plus input_tokens.",
    )
    num_shared_prefixes: PositiveInt = Field(
        default=1,
        le=1_000_000,
        description="How many distinct shared prefixes there are (each request starts with "
        "one of them).",
    )
    shared_prefix_weights: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = Field(
        default=None,
        description="Relative popularity of each shared prefix (num_shared_prefixes "
        "values); default: equally likely.",
    )
    sessions: SessionsSection | None = Field(
        default=None,
        description="Multi-turn sessions ([workload.sessions]): each later prompt is the "
        "conversation so far plus new tokens.",
    )
    reasoning_tokens: TokenCount | LengthSpec | None = Field(
        default=None,
        description="Hidden reasoning tokens a reasoning model generates before the "
        "visible answer (output_tokens): decoded like any output, counted in TPOT and "
        "e2e, and billed as output by APIs. TTFT stays the first generated token; runs "
        "also report the time to the first visible token.",
    )
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
        if self.shared_prefix_tokens is None and (
            self.num_shared_prefixes != 1 or self.shared_prefix_weights is not None
        ):
            raise ValueError(
                "num_shared_prefixes and shared_prefix_weights need shared_prefix_tokens "
                "(the length of each shared prefix)"
            )
        weights = self.shared_prefix_weights
        if weights is not None and (len(weights) != self.num_shared_prefixes or sum(weights) <= 0):
            raise ValueError(
                f"shared_prefix_weights needs {self.num_shared_prefixes} values (one per "
                f"shared prefix) with a positive sum, got {len(weights)}"
            )
        if self.shared_prefix_tokens is not None and a == "trace":
            raise ValueError("`shared_prefix_tokens` does not apply to arrival = 'trace'")
        if self.sessions is not None and a not in ("poisson", "gamma", "constant"):
            raise ValueError(
                "[workload.sessions] start sessions by an open-loop arrival process: set "
                f"arrival to 'poisson', 'gamma' or 'constant' (not {a!r})"
            )
        if self.reasoning_tokens is not None and a == "trace":
            raise ValueError(
                "`reasoning_tokens` does not apply to arrival = 'trace': a trace's output "
                "column is every token generated, reasoning included"
            )
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
