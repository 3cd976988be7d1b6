"""``[engine]``: the serving engine's scheduler, memory and calibration settings."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from simplan.scenario.base import (
    PositiveInt,
    _check_catalog_id,
    _Section,
)
from simplan.scenario.speculative import SpeculativeSection


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

#: vLLM's V0 engine (the default before 0.8.0; read from the vLLM 0.7.3 wheel): prefix
#: caching off (arg_utils.py: enable_prefix_caching = False). Its chunked-prefill default
#: depends on the model's context (:func:`vllm_v0_chunking`).
VLLM_V0_DEFAULTS = {"enable_prefix_caching": False}
#: vLLM V0 turns chunked prefill on by itself for contexts over 32,768 tokens
#: (arg_utils.py create_engine_config: use_long_context = max_model_len > 32768).
VLLM_V0_LONG_CONTEXT = 32768


def vllm_v0_chunking(max_context_tokens: int) -> dict[str, object]:
    """vLLM V0's defaults for chunked prefill and the token budget for a model.

    With chunked prefill the budget is 2048 tokens; without it, max(max_model_len, 2048)
    (vLLM 0.7.3 config.py SchedulerConfig.__post_init__).
    """
    if max_context_tokens > VLLM_V0_LONG_CONTEXT:
        return {"chunked_prefill": True, "max_num_batched_tokens": 2048}
    return {"chunked_prefill": False, "max_num_batched_tokens": max(max_context_tokens, 2048)}


#: SGLang's defaults where they differ from vLLM's (v0.5.5, python/sglang/srt/
#: server_args.py, read from the sglang-0.5.5 wheel): page_size 1 (_handle_page_size);
#: max_running_requests is at most the request pool's 4096 (model_runner.py
#: init_memory_pool); the radix cache is on (disable_radix_cache = False). The chunk size
#: and mem_fraction_static depend on the GPU (:func:`simplan.engine_knobs.sglang_memory`).
SGLANG_DEFAULTS = {"block_size": 1, "max_num_seqs": 4096}


class EngineSection(_Section):
    """Engine knobs. ``name`` picks the serving engine whose memory semantics, admission
    and defaults apply; the knobs keep vLLM's names (TensorRT-LLM's max_batch_size is
    ``max_num_seqs``, its max_num_tokens ``max_num_batched_tokens``)."""

    name: Literal["vllm", "tensorrt-llm", "sglang"] = "vllm"
    version: Literal["v0", "v1"] | None = Field(
        default=None,
        description="vLLM: its V1 engine (default; 0.8.0 and later) or the older V0 engine "
        "(before 0.8.0): prefix caching off, chunked prefill only for contexts over 32k "
        "tokens (then a 2048-token budget), and a host cost per sequence fitted to V0 "
        "measurements (calibration.toml).",
    )
    kv_cache_free_gpu_mem_fraction: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="TensorRT-LLM: the share of the memory left after the weights and "
        "activations that the KV cache takes (default 0.9).",
    )
    mem_fraction_static: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="SGLang: the share of GPU memory for the weights and the KV cache pool "
        "(default: computed from the GPU's memory, the chunk size and the parallelism, "
        "as SGLang's server_args does).",
    )
    scheduler_policy: Literal["guaranteed_no_evict", "max_utilization"] | None = Field(
        default=None,
        description="TensorRT-LLM: guaranteed_no_evict (default) reserves each request's "
        "KV for its whole output at admission, so nothing is ever preempted; "
        "max_utilization admits on the prompt and may pause requests, as vLLM does.",
    )

    attention_dp: bool = Field(
        default=False,
        description="Run attention data-parallel across the tp GPUs of a replica (each "
        "GPU runs every head for its own requests and keeps their KV cache) with MoE "
        "experts expert-parallel: SGLang's --enable-dp-attention, vLLM's "
        "--data-parallel-size with --enable-expert-parallel, TensorRT-LLM's "
        "enable_attention_dp, as their DeepSeek and Qwen3 MoE recipes run. TensorRT-LLM "
        "and vLLM then keep dense MLPs, shared experts and the embedding/LM head whole on "
        "every GPU; SGLang keeps them tensor-parallel.",
    )
    moe_max_num_tokens: PositiveInt | None = Field(
        default=None,
        description="An MoE layer takes at most this many tokens per call and splits larger "
        "batches into chunks (TensorRT-LLM's moe_max_num_tokens). It bounds the MoE "
        "working set held for each (token, expert) row, which under attention_dp covers "
        "every DP rank's tokens: tp x max_num_batched_tokens by default, as TensorRT-LLM "
        "does, which can leave little KV room or none on 80 GB GPUs.",
    )
    custom_all_reduce: bool = Field(
        default=True,
        description="All-reduce small and medium messages with the engine's own CUDA-IPC "
        "kernel where it beats NCCL (vLLM and SGLang: vLLM's kernel; TensorRT-LLM: its "
        "one-/two-shot kernel; NVLink groups of up to 8 GPUs). false runs NCCL only, as "
        "vLLM's --disable-custom-all-reduce does.",
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
        if isinstance(data, dict) and data.get("name") == "sglang":
            return {**SGLANG_DEFAULTS, **data}
        if isinstance(data, dict) and data.get("version") == "v0":
            return {**VLLM_V0_DEFAULTS, **data}
        return data

    @property
    def preset(self) -> str:
        """The engine and version whose fitted host costs apply (``vllm-v0``, ...)."""
        if self.name == "vllm":
            return f"vllm-{self.version or 'v1'}"
        return self.name

    @model_validator(mode="after")
    def _knobs_of_the_engine(self) -> EngineSection:
        if self.name == "tensorrt-llm" and "gpu_memory_utilization" in self.model_fields_set:
            raise ValueError(
                "gpu_memory_utilization is vLLM's (a share of all GPU memory); TensorRT-LLM "
                "sizes its KV cache with kv_cache_free_gpu_mem_fraction, a share of the "
                "memory left after the weights and activations"
            )
        if self.name == "sglang" and "gpu_memory_utilization" in self.model_fields_set:
            raise ValueError(
                "gpu_memory_utilization is vLLM's; SGLang sizes its KV cache pool with "
                "mem_fraction_static, the share of GPU memory for the weights and the pool"
            )
        if self.version is not None and self.name != "vllm":
            raise ValueError(
                f"version picks vLLM's V0 or V1 engine; {self.name} has no version setting"
            )
        if self.name != "tensorrt-llm":
            given = [k for k in _TRTLLM_ONLY if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} belong(s) to TensorRT-LLM: set name = 'tensorrt-llm' "
                    f"({self.name} sizes its KV cache its own way)"
                )
        if self.name != "sglang" and self.mem_fraction_static is not None:
            raise ValueError(
                "mem_fraction_static belongs to SGLang: set name = 'sglang' (vLLM uses "
                "gpu_memory_utilization, TensorRT-LLM kv_cache_free_gpu_mem_fraction)"
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

    @property
    def caps_each_dp_rank(self) -> bool:
        """Whether ``max_num_seqs`` caps each data-parallel attention rank rather than the
        replica, so a replica of n ranks runs up to n x ``max_num_seqs`` sequences.

        TensorRT-LLM (tensorrt_llm/_torch/pyexecutor/py_executor.py, v1.0 and after, read
        2026-12-04): each rank's executor sets ``max_num_active_requests`` to its engine's
        maximum batch, and under ``enable_attention_dp`` ``_fetch_new_requests`` admits up
        to ``self.dist.tp_size * self.max_num_active_requests`` over the group. vLLM: each
        data-parallel rank is its own engine with its own scheduler
        (docs.vllm.ai serving/data_parallel_deployment, v0.12.0). SGLang's limit under DP
        attention is not read here; it stays per replica.
        """
        return self.attention_dp and self.name in ("tensorrt-llm", "vllm")

    @property
    def dp_keeps_dense_whole(self) -> bool:
        """Whether data-parallel attention keeps every non-expert weight (dense MLPs,
        shared experts, embedding and LM head) whole on each GPU.

        TensorRT-LLM (tensorrt_llm/_torch/models/modeling_llama.py @ 3a5901cd, read
        2026-12-03): under enable_attention_dp Llama 4's dense MLPs and shared expert are
        built with ``overridden_tp_size=1`` and its embedding without a TP mapping, Qwen3's
        dense MLPs likewise (modeling_qwen3.py), and modeling_utils.py @ 000a01de builds
        the LM head without one. vLLM: each data-parallel rank is its own engine whose
        weights are "replicated across separate instances/GPUs", only the expert layers
        sharded across ranks (docs.vllm.ai serving/data_parallel_deployment, v0.12.0).
        SGLang's --enable-dp-attention keeps dense MLPs tensor-parallel over the group
        unless --moe-dense-tp-size and --enable-dp-lm-head say otherwise (both off by
        default).
        """
        return self.name in ("tensorrt-llm", "vllm")

    def async_output_lag(self, pp: int) -> bool:
        """Whether the first token reaches the client one iteration after its prefill:
        vLLM's V0 engine processes a step's outputs while the next step runs (async
        output processing, on by default from v0.6.0; ModelConfig.verify_async_output_proc
        in vllm/config.py of v0.7.3 turns it off with pipeline parallelism or speculative
        decoding). The V1 engine, SGLang and TensorRT-LLM return a step's tokens at its
        end."""
        return (
            self.preset == "vllm-v0"
            and pp == 1
            and not (self.speculative and self.speculative.active)
        )

    @field_validator("calibration")
    @classmethod
    def _path_given(cls, v: str | CalibrationFactors | None) -> str | CalibrationFactors | None:
        if isinstance(v, str) and not v.strip():
            raise ValueError("an empty path: name a profile written by `simplan calibrate`")
        return v
