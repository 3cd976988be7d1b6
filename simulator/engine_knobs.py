"""The engine settings a replica's configuration vector is built with: the scenario's
``[engine]`` (memory semantics, batch limits, speculative decoding, attention data
parallelism), the host overheads fitted for its preset, and a deployment's own
calibration factors (``simplan calibrate``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from simplan import catalog
from simplan.calibration import preset_overheads
from simplan.calibration_profile import factors_for
from simplan.prefix_model import PromptReuse, reuse_of
from simplan.speculative import SpecKnobs, knobs_from

if TYPE_CHECKING:
    from simplan.scenario import Scenario


@dataclass(frozen=True)
class EngineKnobs:
    """The engine settings the memory model needs (defaults match vLLM's)."""

    gpu_memory_utilization: float = 0.90
    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 256
    block_size: int = 16
    # TensorRT-LLM: the KV cache takes this share of the memory left after the weights,
    # activations and fixed reserve (None: vLLM's gpu_memory_utilization of all memory).
    kv_cache_free_fraction: float | None = None
    # SGLang: the share of GPU memory (less the CUDA context) for weights and KV pool
    mem_fraction_static: float | None = None
    # Deployment calibration (``simplan calibrate``): 1.0 / None keep the catalog's.
    compute_efficiency_scale: float = 1.0
    memory_efficiency_scale: float = 1.0
    iteration_overhead_s: float | None = None
    sequence_overhead_s: float | None = None
    speculative: SpecKnobs | None = None
    # attention data-parallel across the TP GPUs, experts expert-parallel
    attention_dp: bool = False
    # ... with the dense MLPs, shared experts and embedding/LM head whole on every GPU
    # (TensorRT-LLM, vLLM) rather than tensor-parallel over the group (SGLang)
    dp_whole_dense: bool = False
    # the most tokens one MoE call takes, more in chunks (None: all of them at once)
    moe_max_num_tokens: int | None = None
    # what the workload's prompts repeat, when the engine caches it (the fast path's hits)
    prompt_reuse: PromptReuse | None = None
    # the first token reaches the client one iteration after its prefill (vLLM V0)
    output_lag: bool = False
    # the engine's own single-node all-reduce kernel (catalog allreduce.toml); None: NCCL
    custom_allreduce: str | None = None


#: SGLang v0.5.5's chunk size and CUDA-graph batch limits by GPU memory
#: (server_args.py _handle_gpu_memory_settings): (below GiB, chunked_prefill_size,
#: cuda_graph_max_bs at tp < 4, at tp >= 4); its "H100, A100" (< 90 GiB) and "H20, H200"
#: (< 160 GiB) bands set the same values; above 160 GiB 16384 and 512.
SGLANG_GPU_BANDS = (
    (20, 2048, 8, 8),
    (35, 2048, 24, 80),
    (60, 4096, 32, 160),
    (160, 8192, 256, 512),
)


def sglang_memory(
    gpu_memory_gib: float, tp: int, pp: int, attention_dp: bool, speculative: str | None
) -> tuple[int, float]:
    """SGLang's default ``chunked_prefill_size`` and ``mem_fraction_static`` for a GPU
    (v0.5.5 server_args.py): it keeps back 512 MiB, 1.5 MiB per token of the prefill
    chunk, 2 MiB per CUDA-graph batch slot (3 per slot and DP rank with DP attention),
    128 MiB per GPU of the parallel group, 2 GiB for an EAGLE/MTP drafter or 6 GiB for a
    separate draft model, and at least 10 GiB on GPUs over 60 GiB; the rest, as a share
    of the GPU's memory, holds the weights and the KV pool."""
    gpu_mib = gpu_memory_gib * 1024.0
    chunk, graph_bs = 16384, 512
    for below_gib, c, small_tp, big_tp in SGLANG_GPU_BANDS:
        if gpu_memory_gib < below_gib:
            chunk, graph_bs = c, small_tp if tp < 4 else big_tp
            break
    if attention_dp:
        chunk //= tp  # the chunk is split over the DP ranks
    reserved = 512.0 + max(chunk, 2048) * 1.5 + graph_bs * 2.0 + tp * pp / 8.0 * 1024.0
    if attention_dp:
        reserved += graph_bs * tp * 3.0
    if speculative in ("eagle", "mtp"):
        reserved += 2048.0
    elif speculative == "draft_model":
        reserved += 6144.0
    if gpu_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024.0)
    return chunk, round((gpu_mib - reserved) / gpu_mib, 3)


def custom_allreduce_id(engine: str | None) -> str | None:
    """The catalog id of the all-reduce kernel an engine uses for small messages, or None
    (an unnamed engine, as in closed-form rows, all-reduces with NCCL)."""
    kernel = catalog.custom_allreduce_of(engine) if engine else None
    return kernel.id if kernel else None


def engine_knobs(sc: Scenario, gpu_id: str, tp: int = 1, pp: int = 1) -> EngineKnobs:
    """The engine knobs of a scenario's replicas on ``gpu_id`` (with ``tp`` x ``pp``
    GPUs), with the calibration factors its ``[engine] calibration`` gives for that GPU."""
    eng = sc.engine
    f = factors_for(sc, gpu_id)
    host = preset_overheads(eng.preset, streaming=sc.workload.streams_tokens)
    budget, static_share = eng.max_num_batched_tokens, None
    if eng.name == "sglang":
        spec = eng.speculative.method if eng.speculative and eng.speculative.active else None
        chunk, share = sglang_memory(catalog.gpu(gpu_id).memory_gib, tp, pp, eng.attention_dp, spec)
        if "max_num_batched_tokens" not in eng.model_fields_set:
            budget = chunk
        static_share = share if eng.mem_fraction_static is None else eng.mem_fraction_static
    knobs = EngineKnobs(
        gpu_memory_utilization=eng.gpu_memory_utilization,
        mem_fraction_static=static_share,
        max_num_batched_tokens=budget,
        # a replica's cap: the engine's per rank under data-parallel attention
        max_num_seqs=eng.max_num_seqs * (tp if eng.caps_each_dp_rank else 1),
        block_size=eng.block_size,
        kv_cache_free_fraction=eng.kv_cache_free_gpu_mem_fraction,
        attention_dp=eng.attention_dp,
        dp_whole_dense=eng.dp_keeps_dense_whole,
        moe_max_num_tokens=eng.moe_max_num_tokens,
        speculative=knobs_from(eng.speculative),
        prompt_reuse=reuse_of(sc),
        iteration_overhead_s=host.get("iteration_overhead_s"),
        sequence_overhead_s=host.get("sequence_overhead_s"),
        output_lag=eng.async_output_lag(pp),
        custom_allreduce=custom_allreduce_id(eng.name) if eng.custom_all_reduce else None,
    )
    if f is None:
        return knobs
    # a deployment's own fit (simplan calibrate) wins over the engine preset's
    return replace(
        knobs,
        compute_efficiency_scale=f.compute_efficiency_scale or 1.0,
        memory_efficiency_scale=f.memory_efficiency_scale or 1.0,
        iteration_overhead_s=(
            knobs.iteration_overhead_s if f.iteration_overhead_s is None else f.iteration_overhead_s
        ),
        sequence_overhead_s=(
            knobs.sequence_overhead_s if f.sequence_overhead_s is None else f.sequence_overhead_s
        ),
    )
