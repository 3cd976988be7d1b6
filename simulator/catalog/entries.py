"""The entry types of simplan's catalogs: one pydantic model per kind of entry (a GPU, a
model architecture, a weight scheme, a KV dtype, an API price, a dataset's length
statistics, a GPU family's fitted efficiencies, an engine's all-reduce kernel), each
validated as its TOML table is loaded (:func:`simplan.catalog.load`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    source: str = Field(min_length=4)
    as_of: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    notes: str = ""


class Gpu(_Entry):
    """One GPU SKU: memory, bandwidth, dense tensor-core peaks, interconnect, price."""

    display_name: str
    family: str
    memory_gib: float = Field(gt=0)  # as the driver reports it, not as marketed
    memory_source: str = Field(min_length=1)
    hbm_bandwidth_gb_per_s: float = Field(gt=0)
    tflops_fp16: float = Field(gt=0)
    tflops_bf16: float = Field(ge=0)
    tflops_fp8: float = Field(ge=0)
    tflops_int8: float = Field(ge=0)
    tflops_int4: float = Field(ge=0, default=0.0)
    tflops_fp4: float = Field(ge=0, default=0.0)  # dense FP4 (NVFP4 / MXFP4), Blackwell on
    interconnect: Literal["nvlink", "pcie", "infinity_fabric"]
    nvlink_gb_per_s: float = Field(ge=0)
    nvlink_domain_gpus: int = Field(ge=1)
    pcie_gb_per_s: float = Field(gt=0)
    tdp_w: float = Field(gt=0)
    price_on_demand_usd_per_hour: float = Field(gt=0)
    price_spot_usd_per_hour: float = Field(gt=0)
    price_reserved_usd_per_hour: float = Field(gt=0)
    price_source: str
    price_as_of: str

    def price_usd_per_hour(self, pricing: str) -> float:
        """Price of one GPU-hour for a pricing mode (``on_demand``, ``spot``, ``reserved``)."""
        return float(getattr(self, f"price_{pricing}_usd_per_hour"))

    @property
    def has_fp8(self) -> bool:
        return self.tflops_fp8 > 0


class ModelArch(_Entry):
    """A transformer architecture from the model's published config."""

    display_name: str = ""
    family: str = ""
    num_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    intermediate_size: int = Field(ge=0)
    vocab_size: int = Field(ge=1)
    gated_mlp: bool = True
    tie_word_embeddings: bool = False
    attention: Literal["mha", "gqa", "mla"] = "gqa"
    max_context_tokens: int = Field(ge=1)
    total_params_b: float = Field(gt=0)
    active_params_b: float = Field(gt=0)
    num_experts: int = Field(ge=0, default=0)
    experts_per_token: int = Field(ge=0, default=0)
    moe_intermediate_size: int = Field(ge=0, default=0)
    num_shared_experts: int = Field(ge=0, default=0)
    first_dense_layers: int = Field(ge=0, default=0)
    #: after the leading dense layers, every moe_layer_step-th layer is MoE and the others
    #: are dense of intermediate_size (Llama 4 Maverick: 2; HF interleave_moe_layer_step)
    moe_layer_step: int = Field(ge=1, default=1)
    #: DeepSeek sparse attention (V3.2's index_topk, index_n_heads, index_head_dim): each
    #: query attends to its top-k keys, picked by a small FP8 indexer over every key
    sparse_attention_topk_tokens: int = Field(ge=0, default=0)
    indexer_heads: int = Field(ge=0, default=0)
    indexer_head_dim: int = Field(ge=0, default=0)
    #: the catalog id whose architecture this model shares (a fine-tune or a new release
    #: of the same network: DeepSeek-R1 of DeepSeek-V3); "" for a model of its own
    same_architecture_as: str = ""

    @property
    def dense_layers(self) -> int:
        """Layers with a dense MLP: the leading ones plus those between MoE layers."""
        if not self.num_experts:
            return self.num_layers
        after = max(self.num_layers - self.first_dense_layers, 0)
        return self.num_layers - after // self.moe_layer_step

    #: layers whose attention sees (and whose KV keeps) only the last sliding_window_tokens
    #: tokens: sliding windows (gpt-oss, Mistral v0.1) or attention chunks (Llama 4)
    sliding_window_layers: int = Field(ge=0, default=0)
    sliding_window_tokens: int = Field(ge=0, default=0)
    kv_lora_rank: int = Field(ge=0, default=0)
    q_lora_rank: int = Field(ge=0, default=0)
    qk_nope_head_dim: int = Field(ge=0, default=0)
    qk_rope_head_dim: int = Field(ge=0, default=0)
    v_head_dim: int = Field(ge=0, default=0)

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def kind(self) -> str:
        """The architecture as the accuracy tables group it: ``mla`` (latent attention,
        DeepSeek's), ``moe`` or ``dense``."""
        return "mla" if self.attention == "mla" else "moe" if self.is_moe else "dense"

    @model_validator(mode="after")
    def _consistent(self) -> ModelArch:
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_kv_heads ({self.num_kv_heads})"
            )
        if self.num_experts and not 0 < self.experts_per_token <= self.num_experts:
            raise ValueError("experts_per_token must be in 1..num_experts for an MoE model")
        if self.attention == "mla" and self.kv_lora_rank <= 0:
            raise ValueError("an MLA model needs kv_lora_rank > 0")
        if self.sliding_window_layers > self.num_layers:
            raise ValueError("sliding_window_layers cannot exceed num_layers")
        dsa = (self.sparse_attention_topk_tokens, self.indexer_heads, self.indexer_head_dim)
        if any(dsa) and not all(dsa):
            raise ValueError(
                "sparse_attention_topk_tokens, indexer_heads and indexer_head_dim go together"
            )
        if (self.sliding_window_layers > 0) != (self.sliding_window_tokens > 0):
            raise ValueError("sliding_window_layers and sliding_window_tokens go together")
        return self


class WeightScheme(_Entry):
    """A weight quantization scheme and the tensor-core dtype its GEMMs run at."""

    display_name: str
    bits_per_weight: float = Field(gt=0, le=32)
    compute_dtype: Literal["fp16", "bf16", "fp8", "int8", "fp4"]
    weight_only: bool
    requires_fp8_tensor_cores: bool = False
    dequant_overhead: float = Field(ge=0, default=0.0)
    #: where a measured dequant_overhead comes from (block-scaled formats' GEMM shortfall)
    measurement_source: str = ""
    group_size: int = Field(ge=0, default=0)
    quality_loss_pct_range: tuple[float, float] = (0.0, 0.0)


class KvDtype(_Entry):
    """A KV-cache element type."""

    display_name: str
    bytes_per_element: float = Field(gt=0)


class RateLimit(BaseModel):
    """An API's published per-minute limits for one account tier (each optional).

    ``tokens_per_min`` counts input and output together (OpenAI's and Groq's TPM);
    ``input_tokens_per_min`` counts uncached input only (Anthropic's ITPM);
    ``output_tokens_per_min`` counts generated tokens (Anthropic's OTPM).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str = Field(min_length=1)
    requests_per_min: float | None = Field(default=None, gt=0)
    tokens_per_min: float | None = Field(default=None, gt=0)
    input_tokens_per_min: float | None = Field(default=None, gt=0)
    output_tokens_per_min: float | None = Field(default=None, gt=0)
    source: str = Field(min_length=4)
    as_of: str = Field(pattern=r"^\d{4}-\d{2}(-\d{2})?$")

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimit:
        if not self.limits():
            raise ValueError("a rate_limit needs at least one of " + ", ".join(LIMIT_KEYS))
        return self

    def limits(self) -> dict[str, float]:
        """``{kind: per-minute limit}`` for the limits given (kind: a key of LIMIT_KEYS)."""
        return {k: float(v) for k, v in ((k, getattr(self, k)) for k in LIMIT_KEYS) if v}


#: The per-minute limits a RateLimit may state.
LIMIT_KEYS = ("requests_per_min", "tokens_per_min", "input_tokens_per_min", "output_tokens_per_min")


class ApiPrice(_Entry):
    """An API's list price per million input and output tokens."""

    display_name: str
    provider: str
    usd_per_mtok_input: float = Field(ge=0)
    usd_per_mtok_output: float = Field(ge=0)
    usd_per_mtok_cached_input: float | None = None
    model: str | None = None
    batch_discount: float | None = Field(default=None, gt=0, lt=1)
    batch_source: str | None = None
    rate_limit: RateLimit | None = None

    @model_validator(mode="after")
    def _batch_sourced(self) -> ApiPrice:
        if self.batch_discount is not None and not self.batch_source:
            raise ValueError(f"{self.id}: batch_discount needs batch_source")
        return self


class LengthStats(BaseModel):
    """Token lengths of a dataset as a lognormal with the stated mean and standard
    deviation, clipped to [min, max] (how :mod:`simplan.workload` draws them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: Literal["lognormal"] = "lognormal"
    mean: float = Field(ge=1)
    std: float = Field(ge=0)
    min: int = Field(ge=1, default=1)
    max: int | None = Field(ge=1, default=None)


class Dataset(_Entry):
    """A benchmark dataset's prompt and answer lengths, for ``{ dataset = "..." }``."""

    display_name: str
    tokenizer: str = Field(min_length=1)
    input_tokens: LengthStats
    output_tokens: LengthStats


class Efficiency(_Entry):
    """Fitted efficiency factors of the roofline model for one GPU family."""

    model_config = ConfigDict(extra="allow", frozen=True)

    gemm_compute_efficiency_max: float = Field(gt=0, le=1)
    gemm_m_half_tokens: float = Field(ge=0)
    #: the catalog id of the profiled GPU (others scale gemm_m_half_tokens by their ridge
    #: point over its)
    fit_gpu: str = Field(min_length=1)
    gemm_memory_efficiency: float = Field(gt=0, le=1)
    gemm_overhead_s: float = Field(ge=0)
    elementwise_memory_efficiency: float = Field(gt=0, le=1)
    elementwise_overhead_s: float = Field(ge=0)
    attention_decode_memory_efficiency: float = Field(gt=0, le=1)
    #: prefill attention: efficiency at long context, and the mean context at which it is
    #: half that (eta(L) = max * L / (L + half))
    attention_prefill_compute_efficiency_max: float = Field(gt=0, le=1)
    attention_prefill_half_context_tokens: float = Field(ge=0)
    attention_overhead_s: float = Field(ge=0)
    allreduce_latency_s: float = Field(ge=0)
    allreduce_bus_bandwidth_gb_per_s: float = Field(gt=0)
    allreduce_pairwise_latency_s: float = Field(ge=0)
    allreduce_pairwise_bus_bandwidth_gb_per_s: float = Field(gt=0)


class CustomAllReduce(_Entry):
    """An engine's single-node all-reduce kernel: latencies measured per TP degree."""

    display_name: str
    #: the engine names (``[engine] name``) that use this kernel
    engines: list[str] = Field(min_length=1)
    measured_gpu: str = Field(min_length=1)
    sizes_bytes: list[int] = Field(min_length=2)
    tp2_latency_s: list[float]
    tp4_latency_s: list[float]
    tp8_latency_s: list[float]

    @model_validator(mode="after")
    def _one_latency_per_size(self) -> CustomAllReduce:
        for tp in (2, 4, 8):
            if len(self.latencies_s(tp)) != len(self.sizes_bytes):
                raise ValueError(f"tp{tp}_latency_s needs one value per entry of sizes_bytes")
        return self

    def latencies_s(self, tp: int) -> list[float]:
        """The measured latencies at the smallest measured TP degree >= ``tp``."""
        measured = min(m for m in (2, 4, 8) if m >= tp)
        return list(getattr(self, f"tp{measured}_latency_s"))
