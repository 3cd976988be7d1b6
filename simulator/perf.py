"""From catalog entries to the compiled core: replica configuration vectors and checks.

:func:`build_replica` validates a (model, GPU, quantization, tp, pp) choice and returns a
:class:`Replica` holding the float64 configuration vector the kernels take. Physical
impossibilities (TP not dividing the heads, a TP group beyond what the interconnect
supports) raise :class:`~simplan.errors.InfeasibleError` with the nearest valid choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from simplan import calibration, catalog
from simplan.allreduce import custom_allreduce_cost, nccl_allreduce
from simplan.engine_knobs import EngineKnobs
from simplan.errors import ParallelismError, Problem
from simplan.kernels import layout as c
from simplan.kernels import memory as kmem
from simplan.prefix_model import fill_cfg as fill_prefix_cfg
from simplan.speculative import fill_cfg
from simplan.units import GB, GIB

# GPUs per node. A replica wider than a node fills whole nodes (check_parallelism).
MAX_TP = 8
# Pipeline stages and expert all-to-alls beyond one node talk over the node's network.
# DGX A100 gives each GPU one 200 Gb/s HDR InfiniBand port (NVIDIA DGX A100 user guide,
# 2020): 25 GB/s.
INTER_NODE_GB_PER_S = 25.0
INTER_NODE_LATENCY_S = 10e-6
WEIGHT_ONLY_TILE_RATIO = 8.0


@dataclass
class Replica:
    """One model replica on ``tp * pp`` GPUs, with its kernel configuration vector."""

    arch: catalog.ModelArch
    gpu: catalog.Gpu
    weights: catalog.WeightScheme
    kv_cache: catalog.KvDtype
    tp: int
    pp: int
    engine: EngineKnobs
    cfg: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def num_gpus(self) -> int:
        return self.tp * self.pp

    def memory(self, input_tokens: int = 1, output_tokens: int = 1) -> dict[str, float]:
        """Memory figures per GPU in GiB and the KV capacity, for the given lengths."""
        cfg = self.cfg
        return {
            "memory_gib_per_gpu": cfg[c.MEM_BYTES] / GIB,
            "budget_gib_per_gpu": cfg[c.MEM_BYTES] * cfg[c.MEM_UTIL] / GIB,
            "weights_gib_per_gpu": kmem.weight_bytes_per_gpu(cfg) / GIB,
            "reserve_gib_per_gpu": (kmem.activation_reserve_bytes(cfg) + cfg[c.RESERVE_FIXED_BYTES])
            / GIB,
            "kv_bytes_per_token_per_gpu": kmem.kv_bytes_per_token(cfg),
            "kv_cache_capacity_tokens": float(kmem.kv_capacity_tokens(cfg)),
            "max_batch": float(kmem.max_batch(cfg, input_tokens, output_tokens)),
        }


def valid_tp_degrees(arch: catalog.ModelArch, limit: int = MAX_TP) -> list[int]:
    """TP degrees that split the attention heads evenly (and KV heads, or replicate them)."""
    out = []
    for tp in range(1, limit + 1):
        if arch.num_attention_heads % tp:
            continue
        if arch.attention != "mla" and arch.num_kv_heads % tp and tp % arch.num_kv_heads:
            continue
        if arch.intermediate_size and arch.intermediate_size % tp:
            continue
        out.append(tp)
    return out


def node_gpus(gpu: catalog.Gpu, tp: int) -> int:
    """GPUs of a ``tp``-wide group that share one NVLink domain: all of them up to a node
    (or a wider NVLink domain, GB200 NVL72's 72), else one node of ``MAX_TP``."""
    return tp if tp <= max(gpu.nvlink_domain_gpus, MAX_TP) else MAX_TP


def _multi_node_problem(
    arch: catalog.ModelArch, gpu: catalog.Gpu, tp: int, attention_dp: bool
) -> str | None:
    """Why a group wider than one node cannot run ``arch`` (None when it can). The group
    fills whole nodes. Expert-parallel with data-parallel attention (``attention_dp``,
    DeepSeek on 2x8 H100s as SGLang and TensorRT-LLM serve it): attention is not split,
    experts are dealt out whole and dense MLPs split ``tp`` ways. Tensor-parallel (SGLang's
    DeepSeek recipe runs --tp 16 over two 8-GPU nodes): heads and MLPs split as within a
    node, and each all-reduce goes within the node over NVLink and between the nodes over
    the network."""
    if attention_dp and not arch.is_moe:
        return "only an MoE model spreads over nodes (expert parallelism)"
    if tp % node_gpus(gpu, tp):
        return f"a group across nodes fills whole {MAX_TP}-GPU nodes; or use pp for more GPUs" + (
            "" if attention_dp else ", or [engine] attention_dp = true for an MoE model"
        )
    if attention_dp:
        if arch.num_experts % tp:
            return f"expert parallelism deals the {arch.num_experts} experts out whole"
        if arch.dense_layers and arch.intermediate_size % tp:
            return f"the dense MLP width {arch.intermediate_size} must split {tp} ways"
        return None
    valid = valid_tp_degrees(arch, limit=tp)
    if tp not in valid:
        return (
            f"tp must divide the {arch.num_attention_heads} attention heads and the "
            f"{arch.num_kv_heads} KV heads (or be a multiple of them) and the MLP width; "
            f"valid for {arch.id}: {valid}"
        )
    return None


def check_parallelism(
    arch: catalog.ModelArch, gpu: catalog.Gpu, tp: int, pp: int, attention_dp: bool = False
) -> None:
    """Raise InfeasibleError for TP/PP degrees the model or node cannot use.

    Beyond one node a replica fills whole nodes: an expert-parallel MoE replica with
    data-parallel attention (``attention_dp``), DeepSeek on 2x8 H100s as SGLang and
    TensorRT-LLM serve it, or a tensor-parallel group whose all-reduces cross the
    network (no calibration row has one: the note says so)."""
    problems = []
    valid = valid_tp_degrees(arch)
    if tp > MAX_TP:
        why = _multi_node_problem(arch, gpu, tp, attention_dp)
        if why is not None:
            problems.append(Problem("hardware.tp", why, tp, True))
    elif tp not in valid:
        best = min(valid, key=lambda d: (abs(d - tp), -d))
        problems.append(
            Problem(
                "hardware.tp",
                f"tp must divide the {arch.num_attention_heads} attention heads and the "
                f"{arch.num_kv_heads} KV heads (or be a multiple of them); nearest valid: {best} "
                f"(valid: {valid})",
                tp,
                True,
            )
        )
    if pp > arch.num_layers:
        problems.append(
            Problem(
                "hardware.pp",
                f"pp cannot exceed the model's {arch.num_layers} layers",
                pp,
                True,
            )
        )
    if problems:
        raise ParallelismError(f"invalid parallelism for {arch.id} on {gpu.id}", problems)


#: Low-bit compute dtypes a GPU may lack tensor cores for, and how engines then run such
#: checkpoints: as weight-only kernels whose dequantization cost is that scheme's
#: (FP8: vLLM's FP8 Marlin, W8A16 on A100 and A10G; FP4: vLLM's FP4 Marlin and gpt-oss's
#: MXFP4 Triton kernels, W4A16 before Blackwell).
_WEIGHT_ONLY_FALLBACK = {
    "fp8": ("int8-wo", "W8A16", "1-byte"),
    "fp4": ("int4-gptq", "W4A16", "4-bit"),
}


def _compute_path(gpu: catalog.Gpu, w: catalog.WeightScheme) -> tuple[float, float, str | None]:
    """(GEMM peak FLOP/s, extra compute fraction, note) for a weight scheme on a GPU: the
    scheme's ``dequant_overhead`` (weight-only dequantization, or a block-scaled format's
    measured shortfall) or, for a fallback, the weight-only kernel's."""
    fp16 = gpu.tflops_fp16 * 1e12
    if w.weight_only:
        return fp16, w.dequant_overhead, None
    if w.compute_dtype == "bf16":
        return (gpu.tflops_bf16 or gpu.tflops_fp16) * 1e12, 0.0, None
    if w.compute_dtype == "fp16":
        return fp16, 0.0, None
    if w.compute_dtype in _WEIGHT_ONLY_FALLBACK:
        low_bit = {"fp8": gpu.tflops_fp8, "fp4": gpu.tflops_fp4}[w.compute_dtype]
        if low_bit > 0:
            # block-scaled formats' GEMMs fall short of the peak by more than 16-bit ones
            return low_bit * 1e12, w.dequant_overhead, None
        scheme, name, reads = _WEIGHT_ONLY_FALLBACK[w.compute_dtype]
        note = (
            f"{gpu.id} has no {w.compute_dtype.upper()} tensor cores: {w.id} weights run as "
            f"weight-only {name} (16-bit compute with dequantization, {reads} weight reads)"
        )
        return fp16, catalog.weights(scheme).dequant_overhead, note
    if w.compute_dtype == "int8":
        if gpu.tflops_int8 <= 0:
            raise ParallelismError(f"{gpu.id} has no INT8 tensor cores for {w.id}")
        return gpu.tflops_int8 * 1e12, w.dequant_overhead, None
    raise ParallelismError(f"unknown compute dtype {w.compute_dtype!r} in {w.id}")


def build_replica(
    arch: catalog.ModelArch,
    gpu: catalog.Gpu,
    weights: catalog.WeightScheme,
    kv_cache: catalog.KvDtype,
    tp: int = 1,
    pp: int = 1,
    engine: EngineKnobs | None = None,
) -> Replica:
    """Validate a replica configuration and build its kernel configuration vector."""
    engine = engine or EngineKnobs()
    check_parallelism(arch, gpu, tp, pp, engine.attention_dp)
    eff = catalog.efficiency(gpu.family)
    cal = calibration.constants()
    notes: list[str] = []
    peak_gemm, dequant, note = _compute_path(gpu, weights)
    if note:
        notes.append(note)
    node = node_gpus(gpu, tp)
    ar_alpha, ar_bw, note = nccl_allreduce(gpu, eff, node)
    if note:
        notes.append(note)
    if tp > node:
        notes.append(
            f"tp={tp} spans {tp // node} nodes: expert all-to-alls and dense all-reduces "
            f"cross the network at {INTER_NODE_GB_PER_S:.0f} GB/s per GPU"
            + (
                ""
                if engine.attention_dp
                else " (uncalibrated: no published measurement of a tensor-parallel group "
                "across nodes was fitted)"
            )
        )
    if tp * pp <= max(gpu.nvlink_domain_gpus, 1) and gpu.nvlink_gb_per_s > 0:
        p2p_bw, p2p_alpha = gpu.nvlink_gb_per_s / 2.0 * GB, ar_alpha
    else:
        p2p_bw, p2p_alpha = INTER_NODE_GB_PER_S * GB, INTER_NODE_LATENCY_S

    cfg = c.empty()
    cfg[c.LAYERS] = arch.num_layers
    cfg[c.HIDDEN] = arch.hidden_size
    cfg[c.HEADS] = arch.num_attention_heads
    cfg[c.KV_HEADS] = arch.num_kv_heads
    cfg[c.HEAD_DIM] = arch.head_dim
    cfg[c.INTERMEDIATE] = arch.intermediate_size
    cfg[c.VOCAB] = arch.vocab_size
    cfg[c.GATED] = float(arch.gated_mlp)
    cfg[c.EXPERTS] = arch.num_experts
    cfg[c.EXPERTS_PER_TOKEN] = arch.experts_per_token
    cfg[c.EXPERT_INTERMEDIATE] = arch.moe_intermediate_size
    cfg[c.SHARED_EXPERTS] = arch.num_shared_experts
    cfg[c.DENSE_LAYERS] = arch.dense_layers
    cfg[c.SWA_LAYERS] = arch.sliding_window_layers
    cfg[c.SWA_WINDOW_TOKENS] = arch.sliding_window_tokens
    cfg[c.DSA_TOPK_TOKENS] = arch.sparse_attention_topk_tokens
    cfg[c.INDEXER_HEADS] = arch.indexer_heads
    cfg[c.INDEXER_HEAD_DIM] = arch.indexer_head_dim
    cfg[c.ATT_DP] = 1.0 if engine.attention_dp and tp > 1 else 0.0
    cfg[c.ADP_WHOLE_DENSE] = 1.0 if engine.dp_whole_dense else 0.0
    cfg[c.MOE_MAX_TOKENS] = float(engine.moe_max_num_tokens or 0)
    cfg[c.MLA] = float(arch.attention == "mla")
    cfg[c.KV_LORA] = arch.kv_lora_rank
    cfg[c.Q_LORA] = arch.q_lora_rank
    cfg[c.QK_NOPE] = arch.qk_nope_head_dim
    cfg[c.QK_ROPE] = arch.qk_rope_head_dim
    cfg[c.V_HD] = arch.v_head_dim
    cfg[c.TIE] = float(arch.tie_word_embeddings)
    cfg[c.W_BYTES] = weights.bits_per_weight / 8.0
    cfg[c.A_BYTES] = 2.0
    cfg[c.KV_BYTES] = kv_cache.bytes_per_element
    cfg[c.PEAK_GEMM_FLOP_PER_S] = peak_gemm
    cfg[c.DEQUANT] = dequant
    cfg[c.BW_BYTES_PER_S] = gpu.hbm_bandwidth_gb_per_s * GB
    cfg[c.MEM_BYTES] = gpu.memory_gib * GIB
    cfg[c.PEAK_FP16_FLOP_PER_S] = gpu.tflops_fp16 * 1e12
    cfg[c.TP] = tp
    cfg[c.PP] = pp
    compute, memory = engine.compute_efficiency_scale, engine.memory_efficiency_scale
    cfg[c.ETA_C] = eff.gemm_compute_efficiency_max * compute
    # A GEMM's efficiency ramp ends where it turns compute-bound, at M near the GPU's ridge
    # point (peak FLOP/s over bandwidth): both profiled GPUs put m_half at 0.54-0.58 of
    # theirs (A100 82 of 153, H100 170 of 295). Other GPUs keep that ratio, so a GPU with
    # capped tensor cores and fast memory (H20: ridge 37) ramps 8x sooner than an H100.
    m_half = (
        eff.gemm_m_half_tokens
        * ridge_flop_per_byte(gpu)
        / ridge_flop_per_byte(catalog.gpu(eff.fit_gpu))
    )
    cfg[c.M_HALF_16_TOKENS] = m_half
    # Weight-only kernels (Marlin, AWQ/GPTQ GEMV paths) tile 16 rows where cuBLAS tiles
    # 128, so they reach their compute efficiency at 1/8 of the tokens (MARLIN,
    # Frantar et al. 2024, arXiv:2408.11743: near-ideal speed-up up to batch 16-32).
    weight_only_kernel = (
        weights.weight_only
        or (weights.compute_dtype == "fp8" and not gpu.has_fp8)
        or (weights.compute_dtype == "fp4" and gpu.tflops_fp4 <= 0)
    )
    cfg[c.M_HALF_TOKENS] = m_half / (WEIGHT_ONLY_TILE_RATIO if weight_only_kernel else 1.0)
    cfg[c.ETA_M] = eff.gemm_memory_efficiency * memory
    # The profiles were taken in eager mode; CUDA-graph engines pay less per kernel.
    k_scale = float(cal["kernel_overhead_scale"])
    cfg[c.T0_GEMM_S] = eff.gemm_overhead_s * k_scale
    cfg[c.ETA_ELEM] = eff.elementwise_memory_efficiency * memory
    cfg[c.T0_ELEM_S] = eff.elementwise_overhead_s * k_scale
    cfg[c.ETA_ATT_DEC] = eff.attention_decode_memory_efficiency * memory
    cfg[c.ETA_ATT_PRE] = eff.attention_prefill_compute_efficiency_max * compute
    cfg[c.ATT_L_HALF_TOKENS] = eff.attention_prefill_half_context_tokens
    moe = cal.get("moe", {})
    cfg[c.MOE_HALF_WIDTH] = float(moe.get("half_efficiency_width", 0.0))
    cfg[c.T0_MOE_S] = float(moe.get("routing_overhead_s", 0.0))
    cfg[c.OUTPUT_LAG] = 1.0 if engine.output_lag else 0.0
    cfg[c.T0_ATT_S] = eff.attention_overhead_s * k_scale
    cfg[c.NODE_GPUS] = node
    cfg[c.INTER_BW_BYTES_PER_S] = INTER_NODE_GB_PER_S * GB
    cfg[c.INTER_ALPHA_S] = INTER_NODE_LATENCY_S
    # the all-reduce profile is eager-mode too: its fixed cost includes the launch
    cfg[c.AR_ALPHA_S] = ar_alpha * k_scale
    cfg[c.AR_BW_BYTES_PER_S] = ar_bw
    car_alpha, cfg[c.CAR_S_PER_BYTE] = custom_allreduce_cost(gpu, tp, engine.custom_allreduce)
    cfg[c.CAR_ALPHA_S] = car_alpha * k_scale  # measured without CUDA graphs
    cfg[c.T_ITER_S] = (
        float(cal["iteration_overhead_s"])
        if engine.iteration_overhead_s is None
        else engine.iteration_overhead_s
    )
    # Not part of the catalog's fit (0 unless a deployment calibration gives it): engines
    # with CUDA graphs and an asynchronous scheduler hide most per-sequence host work.
    cfg[c.T_SEQ_S] = (
        float(cal.get("sequence_overhead_s", 0.0))
        if engine.sequence_overhead_s is None
        else engine.sequence_overhead_s
    )
    cfg[c.P2P_BW_BYTES_PER_S] = p2p_bw
    cfg[c.P2P_ALPHA_S] = p2p_alpha
    cfg[c.MEM_UTIL] = engine.gpu_memory_utilization
    cfg[c.MAX_BATCHED_TOKENS] = engine.max_num_batched_tokens
    cfg[c.MAX_NUM_SEQS] = engine.max_num_seqs
    cfg[c.RESERVE_FIXED_BYTES] = float(cal["reserve_fixed_gib"]) * GIB
    cfg[c.BLOCK_TOKENS] = engine.block_size
    fill_cfg(cfg, engine.speculative)
    if engine.speculative is not None and pp > 1:
        notes.append(
            "speculative decoding with pp > 1 models an engine that combines them; vLLM "
            "0.28-0.29 does not (vllm-project/vllm#57755, 2026-09-20; #14117)"
        )
    cfg[c.PREFIX_HIT_TOKENS] = cfg[c.PREFIX_POOL_TOKENS] = cfg[c.PREFIX_HIT_SHARE] = 0.0
    if engine.kv_cache_free_fraction is not None:
        cfg[c.MEM_UTIL] = _utilization_for_free_fraction(cfg, engine.kv_cache_free_fraction)
    if engine.mem_fraction_static is not None:
        cfg[c.MEM_UTIL] = _utilization_for_static_fraction(cfg, engine.mem_fraction_static)
    fill_prefix_cfg(cfg, engine.prompt_reuse, engine.block_size)
    return Replica(arch, gpu, weights, kv_cache, tp, pp, engine, c.check_complete(cfg), notes)


def _utilization_for_free_fraction(cfg: np.ndarray, fraction: float) -> float:
    """The share of all memory that leaves the KV cache ``fraction`` of what is free after
    weights, activations and the fixed reserve (TensorRT-LLM's semantics), so the kernels'
    one memory rule (``kv_capacity_tokens``) serves both engines."""
    total = cfg[c.MEM_BYTES]
    taken = (
        kmem.weight_bytes_per_gpu(cfg)
        + kmem.activation_reserve_bytes(cfg)
        + cfg[c.RESERVE_FIXED_BYTES]
    )
    return float(min((taken + fraction * max(total - taken, 0.0)) / total, 1.0))


def _utilization_for_static_fraction(cfg: np.ndarray, fraction: float) -> float:
    """The share of all memory that leaves SGLang's KV pool: ``fraction`` of the memory
    free before the weights load (all of it less the CUDA context, the fixed reserve)
    holds the weights and the pool; activations and CUDA graphs live in the rest
    (sglang 0.5.5 model_runner.py profile_max_num_token: rest_memory = available -
    total * (1 - mem_fraction_static))."""
    total = cfg[c.MEM_BYTES]
    fixed = cfg[c.RESERVE_FIXED_BYTES]
    kv_and_weights = fraction * max(total - fixed, 0.0)
    return float(min((kv_and_weights + kmem.activation_reserve_bytes(cfg) + fixed) / total, 1.0))


def ridge_flop_per_byte(gpu: catalog.Gpu) -> float:
    """Dense 16-bit tensor-core FLOP/s per byte/s of memory bandwidth: the arithmetic
    intensity above which a kernel is compute-bound."""
    return gpu.tflops_fp16 * 1e12 / (gpu.hbm_bandwidth_gb_per_s * GB)


def replica_from_ids(
    model: str,
    gpu: str,
    weights: str = "fp16",
    kv_cache: str = "fp16",
    tp: int = 1,
    pp: int = 1,
    engine: EngineKnobs | None = None,
) -> Replica:
    """:func:`build_replica` from catalog ids."""
    return build_replica(
        catalog.model(model),
        catalog.gpu(gpu),
        catalog.weights(weights),
        catalog.kv_cache(kv_cache),
        tp,
        pp,
        engine,
    )


def stack_cfgs(replicas: list[Replica]) -> np.ndarray:
    """An (n, NCFG) array of configuration vectors for vectorized kernels."""
    return np.ascontiguousarray(np.stack([r.cfg for r in replicas]))
