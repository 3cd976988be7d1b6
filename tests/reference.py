"""Plain-numpy reference implementations of simplan's compiled kernels.

Written from the kernels' docstrings and the physics of a transformer forward pass, not by
translating the numba code line by line: every function takes an ``(n, NCFG)`` array of
configuration vectors (:mod:`simplan.kernels.layout`) plus length-``n`` arrays (or
scalars) of batch shapes and evaluates all rows at once with numpy array operations.

Where a kernel's documented formula leaves a choice open, the reference follows the
kernel's behaviour and says so in a ``# kernel choice:`` comment.

Two kinds of GEMM appear: the model's quantized linear layers (the scheme's bytes per
weight, GEMM peak, dequantization overhead and ``M_HALF``) and the GEMMs engines keep in
16 bits (LM head, MoE router: activation-size weights, fp16 peak, nothing to dequantize,
and cuBLAS-style tiles with ``M_HALF_16``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from simplan.kernels import layout as c

FloatArray = np.ndarray


@dataclass(frozen=True)
class Shapes:
    """Per-GPU tensor dimensions of one configuration row (all float64 arrays of length n)."""

    layers: FloatArray  # whole model
    hidden: FloatArray
    tp: FloatArray
    pp: FloatArray
    q_heads: FloatArray  # query heads per GPU
    kv_heads: FloatArray  # KV heads per GPU (replicated once TP exceeds them)
    head_dim: FloatArray
    is_mla: FloatArray  # bool
    is_moe: FloatArray  # bool
    gated: FloatArray  # 0/1
    mlp_mats: FloatArray  # 3 for SwiGLU, 2 for a plain MLP
    dense_frac: FloatArray  # fraction of layers with a dense MLP
    layers_per_stage: FloatArray
    # GPUs the dense MLPs, shared experts and vocab tables are split over: 1 when
    # data-parallel attention keeps them whole (TensorRT-LLM, vLLM), else the TP degree
    dense_tp: FloatArray


def _shapes(cfgs: FloatArray) -> Shapes:
    tp = cfgs[:, c.TP]
    # data-parallel attention: each GPU runs every head (for its own requests)
    att_tp = np.where(cfgs[:, c.ATT_DP] > 0, 1.0, tp)
    is_moe = cfgs[:, c.EXPERTS] > 0
    layers = cfgs[:, c.LAYERS]
    dense_frac = np.where(is_moe, np.minimum(cfgs[:, c.DENSE_LAYERS], layers) / layers, 1.0)
    return Shapes(
        layers=layers,
        hidden=cfgs[:, c.HIDDEN],
        tp=tp,
        pp=cfgs[:, c.PP],
        q_heads=cfgs[:, c.HEADS] / att_tp,
        kv_heads=np.maximum(cfgs[:, c.KV_HEADS] / att_tp, 1.0),
        head_dim=cfgs[:, c.HEAD_DIM],
        is_mla=cfgs[:, c.MLA] > 0,
        is_moe=is_moe,
        gated=cfgs[:, c.GATED],
        mlp_mats=2.0 + cfgs[:, c.GATED],
        dense_frac=dense_frac,
        layers_per_stage=np.ceil(layers / cfgs[:, c.PP]),
        dense_tp=np.where((cfgs[:, c.ATT_DP] > 0) & (cfgs[:, c.ADP_WHOLE_DENSE] > 0), 1.0, tp),
    )


# --------------------------------------------------------------------------- roofline ops


def _roofline(flops, peak, eta_c, nbytes, bw, eta_m, t0):
    """max(compute time, memory time) + fixed cost."""
    return np.maximum(flops / (peak * eta_c), nbytes / (bw * eta_m)) + t0


def gemm_time(cfgs, m, k, n, bytes_per_weight, peak, dequant, m_half):
    """(m x k) @ (k x n) with M-dependent compute efficiency; 0 for m <= 0.

    Compute efficiency is eta_c * m / (m + m_half); ``dequant`` is the extra compute
    fraction a weight-only kernel spends unpacking its weights.
    """
    m = np.asarray(m, dtype=float)
    m_pos = np.where(m > 0, m, 1.0)
    eta_c = cfgs[:, c.ETA_C] * m_pos / (m_pos + m_half)
    flops = 2.0 * m_pos * k * n * (1.0 + dequant)
    # weights once, the input activations (m x k) and the output (m x n)
    nbytes = k * n * bytes_per_weight + m_pos * (k + n) * cfgs[:, c.A_BYTES]
    t = _roofline(
        flops,
        peak,
        eta_c,
        nbytes,
        cfgs[:, c.BW_BYTES_PER_S],
        cfgs[:, c.ETA_M],
        cfgs[:, c.T0_GEMM_S],
    )
    return np.where(m > 0, t, 0.0)


def _quant_gemm(cfgs, m, k, n):
    """A linear layer of the model: quantized weights on the scheme's GEMM kernel."""
    return gemm_time(
        cfgs,
        m,
        k,
        n,
        cfgs[:, c.W_BYTES],
        cfgs[:, c.PEAK_GEMM_FLOP_PER_S],
        cfgs[:, c.DEQUANT],
        cfgs[:, c.M_HALF_TOKENS],
    )


def _fp16_gemm(cfgs, m, k, n):
    """A GEMM engines keep in 16 bits (router, LM head): activation-size weights, fp16 peak,
    no dequantization, and the 16-bit kernel's M_HALF_16 whatever the weight scheme."""
    return gemm_time(
        cfgs,
        m,
        k,
        n,
        cfgs[:, c.A_BYTES],
        cfgs[:, c.PEAK_FP16_FLOP_PER_S],
        0.0,
        cfgs[:, c.M_HALF_16_TOKENS],
    )


def kv_elems_per_token_per_layer(cfgs):
    """K and V elements of one token in one layer on one GPU.

    GQA/MHA: K and V for each KV head the GPU holds. MLA: one compressed latent plus the
    decoupled RoPE key, shared by all heads and kept whole on every TP rank.
    """
    s = _shapes(cfgs)
    gqa = 2.0 * s.kv_heads * s.head_dim
    mla = cfgs[:, c.KV_LORA] + cfgs[:, c.QK_ROPE]
    return np.where(s.is_mla, mla, gqa)


def attention_projections_time(cfgs, t):
    """Q/K/V and output projections of one layer for t tokens on one GPU."""
    s = _shapes(cfgs)
    h = s.hidden
    # MHA/GQA: one fused QKV GEMM (kernel choice: fused, one fixed cost) and the output.
    qkv_width = s.head_dim * (s.q_heads + s.kv_heads + s.kv_heads)
    std = _quant_gemm(cfgs, t, h, qkv_width) + _quant_gemm(cfgs, t, s.q_heads * s.head_dim, h)
    # MLA (DeepSeek-V2/V3): low-rank query (optional), joint KV down-projection carrying the
    # RoPE key, KV up-projection to per-head nope-keys and values, output projection.
    q_lora = cfgs[:, c.Q_LORA]
    kv_lora = cfgs[:, c.KV_LORA]
    nope, rope, v_hd = cfgs[:, c.QK_NOPE], cfgs[:, c.QK_ROPE], cfgs[:, c.V_HD]
    q_out = s.q_heads * (nope + rope)
    q_lowrank = _quant_gemm(cfgs, t, h, q_lora) + _quant_gemm(cfgs, t, q_lora, q_out)
    q_full = _quant_gemm(cfgs, t, h, q_out)
    q = np.where(q_lora > 0, q_lowrank, q_full)
    kv_down = _quant_gemm(cfgs, t, h, kv_lora + rope)
    kv_up = _quant_gemm(cfgs, t, kv_lora, s.q_heads * (nope + v_hd))
    out = _quant_gemm(cfgs, t, s.q_heads * v_hd, h)
    mla = q + kv_down + kv_up + out
    return np.where(s.is_mla, mla, std)


def attention_core_time(cfgs, prefill_tokens, prefill_pairs, decode_ctx, queries=1.0):
    """Score and value kernels of one layer on one GPU (flash attention / paged decode);
    each decoding sequence runs ``queries`` query tokens (k + 1 when verifying drafts)."""
    s = _shapes(cfgs)
    prefill_tokens = np.asarray(prefill_tokens, dtype=float)
    prefill_pairs = np.asarray(prefill_pairs, dtype=float)
    decode_ctx = np.asarray(decode_ctx, dtype=float)
    kv_lora, rope = cfgs[:, c.KV_LORA], cfgs[:, c.QK_ROPE]
    nope, v_hd = cfgs[:, c.QK_NOPE], cfgs[:, c.V_HD]
    # Each (query, key) pair costs a QK^T dot product and a PV accumulation: 2 FLOPs per
    # element of each. Standard heads: 2*hd + 2*hd. MLA decode runs "absorbed" against the
    # latent (score over latent + rope, values over the latent); MLA prefill runs the
    # expanded heads (score over nope + rope, values over v_head_dim).
    std_pair = s.q_heads * (2.0 * s.head_dim + 2.0 * s.head_dim)
    mla_decode_pair = s.q_heads * (2.0 * (kv_lora + rope) + 2.0 * kv_lora)
    mla_prefill_pair = s.q_heads * (2.0 * (nope + rope) + 2.0 * v_hd)
    decode_pair = np.where(s.is_mla, mla_decode_pair, std_pair)
    # sparse MLA (DeepSeek-V3.2) runs absorbed against the latent in prefill too
    sparse_mla = s.is_mla & (cfgs[:, c.DSA_TOPK_TOKENS] > 0)
    prefill_pair = np.where(
        sparse_mla, mla_decode_pair, np.where(s.is_mla, mla_prefill_pair, std_pair)
    )
    kv_bytes = kv_elems_per_token_per_layer(cfgs) * cfgs[:, c.KV_BYTES]
    bw = cfgs[:, c.BW_BYTES_PER_S]
    peak = cfgs[:, c.PEAK_FP16_FLOP_PER_S]
    t0 = cfgs[:, c.T0_ATT_S]
    # Decode reads every context token's KV once. kernel choice: its compute side uses the
    # attention compute efficiency at long context (the only one fitted).
    dec = _roofline(
        queries * decode_ctx * decode_pair,
        peak,
        cfgs[:, c.ETA_ATT_PRE],
        decode_ctx * kv_bytes,
        bw,
        cfgs[:, c.ETA_ATT_DEC],
        t0,
    )
    # Prefill: FLOPs over the causal pairs; bytes = the new tokens' KV written (kernel
    # choice: at the decode attention memory efficiency).
    # the efficiency at the mean context a prefill query attends to (1 where there is none:
    # no prefill FLOPs to divide)
    pairs = np.broadcast_to(prefill_pairs, peak.shape)
    tokens = np.broadcast_to(prefill_tokens, peak.shape)
    ctx = np.divide(pairs, tokens, out=np.zeros_like(peak), where=tokens > 0)
    ctx = np.where(ctx > 0, ctx, 1.0)
    pre = _roofline(
        prefill_pairs * prefill_pair,
        peak,
        cfgs[:, c.ETA_ATT_PRE] * ctx / (ctx + cfgs[:, c.ATT_L_HALF_TOKENS]),
        prefill_tokens * kv_bytes,
        bw,
        cfgs[:, c.ETA_ATT_DEC],
        t0,
    )
    return np.where(decode_ctx > 0, dec, 0.0) + np.where(prefill_tokens > 0, pre, 0.0)


def dense_mlp_time(cfgs, t, width):
    """Column-parallel (gate+)up GEMM and row-parallel down GEMM of an MLP of ``width``."""
    s = _shapes(cfgs)
    shard = width / s.dense_tp
    up = _quant_gemm(cfgs, t, s.hidden, (1.0 + s.gated) * shard)
    down = _quant_gemm(cfgs, t, shard, s.hidden)
    return up + down


def moe_distinct_experts(num_experts, experts_per_token, tokens):
    """E * (1 - (1 - k/E)^T): expected experts touched when T tokens each pick k of E."""
    e = np.asarray(num_experts, dtype=float)
    k = np.asarray(experts_per_token, dtype=float)
    tokens = np.asarray(tokens, dtype=float)
    e_safe = np.where(e > 0, e, 1.0)
    # chance one token's routing skips a given expert, as a log (k = E: never skips)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_miss_one = np.log1p(-k / e_safe)
        touched = -e_safe * np.expm1(tokens * log_miss_one)
    return np.where((tokens > 0) & (e > 0), touched, 0.0)


def moe_layer_ffn_time(cfgs, t, shared_tokens=None):
    """Router, routed experts (one grouped roofline) and shared experts of one MoE layer
    (for ``shared_tokens``, all ``t`` by default)."""
    s = _shapes(cfgs)
    t = np.asarray(t, dtype=float)
    h = s.hidden
    e, k = cfgs[:, c.EXPERTS], cfgs[:, c.EXPERTS_PER_TOKEN]
    shard = (
        cfgs[:, c.EXPERT_INTERMEDIATE] / s.tp
    )  # experts are tensor-parallel, no expert parallelism
    expert_params = s.mlp_mats * h * shard
    touched = moe_distinct_experts(e, k, t)
    assignments = t * k  # (token, expert) pairs
    touched_safe = np.where(touched > 0, touched, 1.0)
    rows_per_expert = assignments / touched_safe  # the M of each expert's GEMM
    # a grouped weight-quantized GEMM: the quantized layers' M_HALF and dequant overhead
    # grouped GEMMs reach w / (w + MOE_HALF_WIDTH) of a dense GEMM's compute efficiency,
    # w the expert width one GPU holds (whole experts when expert-parallel)
    own_width = np.where(cfgs[:, c.ATT_DP] > 0, cfgs[:, c.EXPERT_INTERMEDIATE], shard)
    grouped = own_width / np.maximum(own_width + cfgs[:, c.MOE_HALF_WIDTH], 1e-30)
    half = grouped * cfgs[:, c.M_HALF_TOKENS]  # the half point moves with the peak
    ramp = rows_per_expert / np.maximum(rows_per_expert + half, 1e-30)
    eta_c = grouped * cfgs[:, c.ETA_C] * ramp
    eta_c = np.where(eta_c > 0, eta_c, 1.0)  # rows of dense models (discarded by callers)
    flops = 2.0 * assignments * expert_params * (1.0 + cfgs[:, c.DEQUANT])
    # Weights of the touched experts; activations: each assignment reads its token and
    # writes its output (2h) and writes and reads the intermediate (2 * shard).
    nbytes = touched * expert_params * cfgs[:, c.W_BYTES]
    nbytes = nbytes + assignments * (2.0 * h + 2.0 * shard) * cfgs[:, c.A_BYTES]
    # two grouped GEMM launches (gate/up, down): two fixed costs
    routed = _roofline(
        flops,
        cfgs[:, c.PEAK_GEMM_FLOP_PER_S],
        eta_c,
        nbytes,
        cfgs[:, c.BW_BYTES_PER_S],
        cfgs[:, c.ETA_M],
        2.0 * cfgs[:, c.T0_GEMM_S] + cfgs[:, c.T0_MOE_S],  # + routing, permute, combine
    )
    router = _fp16_gemm(cfgs, t, h, e)
    shared = np.where(
        cfgs[:, c.SHARED_EXPERTS] > 0,
        dense_mlp_time(
            cfgs,
            t if shared_tokens is None else shared_tokens,
            cfgs[:, c.SHARED_EXPERTS] * cfgs[:, c.EXPERT_INTERMEDIATE],
        ),
        0.0,
    )
    return np.where(t > 0, routed + router + shared, 0.0)


def elementwise_time(cfgs, t):
    """Norms, residual adds, rotary and the MLP activation: pure memory traffic + 6 launches."""
    s = _shapes(cfgs)
    t = np.asarray(t, dtype=float)
    h = s.hidden
    norms = 2 * (t * h + t * h)  # 2 RMSNorms: read x, write y
    residuals = 2 * (3 * t * h)  # 2 adds: read two, write one
    # Rotary reads and writes the rotated part of every query head and of the keys: the
    # GPU's KV heads at head_dim for GQA/MHA; for MLA the qk_rope slice of each query head
    # and the single decoupled RoPE key all heads share.
    mla_rope = (s.q_heads + 1.0) * cfgs[:, c.QK_ROPE]
    std_rope = (s.q_heads + s.kv_heads) * s.head_dim
    rotary = 2 * t * np.where(s.is_mla, mla_rope, std_rope)  # read + write
    # Activation width per GPU: the MLP's intermediate, or for MoE the k routed experts and
    # the shared ones every token goes through (kernel choice: also for leading dense layers).
    act_width = (
        np.where(
            s.is_moe,
            (cfgs[:, c.EXPERTS_PER_TOKEN] + cfgs[:, c.SHARED_EXPERTS])
            * cfgs[:, c.EXPERT_INTERMEDIATE],
            cfgs[:, c.INTERMEDIATE],
        )
        # with data-parallel attention t is one GPU's own tokens, at full MLP width
        / np.where(cfgs[:, c.ATT_DP] > 0, 1.0, s.tp)
    )
    # SwiGLU reads gate and up and writes one (3); a plain activation reads and writes (2).
    activation = np.where(s.gated > 0, 3.0, 2.0) * t * act_width
    nbytes = (norms + residuals + rotary + activation) * cfgs[:, c.A_BYTES]
    t_el = nbytes / (cfgs[:, c.BW_BYTES_PER_S] * cfgs[:, c.ETA_ELEM]) + 6 * cfgs[:, c.T0_ELEM_S]
    return np.where(t > 0, t_el, 0.0)


def allreduce_time(cfgs, nbytes):
    """Ring all-reduce: alpha + 2 (n - 1) / n * bytes / bus bandwidth (0 without TP);
    beyond one node, within the node and then a 1/local slice between the nodes."""
    n = cfgs[:, c.TP]
    local = np.minimum(n, cfgs[:, c.NODE_GPUS])
    m = n / local
    nbytes = np.asarray(nbytes, dtype=float)
    t = cfgs[:, c.AR_ALPHA_S] + 2.0 * (local - 1.0) / local * nbytes / cfgs[:, c.AR_BW_BYTES_PER_S]
    between = (
        cfgs[:, c.INTER_ALPHA_S]
        + 2.0 * (m - 1.0) / m * (nbytes / local) / cfgs[:, c.INTER_BW_BYTES_PER_S]
    )
    t = t + np.where(n > local, between, 0.0)
    custom = cfgs[:, c.CAR_ALPHA_S] + nbytes * cfgs[:, c.CAR_S_PER_BYTE]
    t = np.where((n <= local) & (cfgs[:, c.CAR_S_PER_BYTE] > 0), np.minimum(t, custom), t)
    return np.where((n > 1) & (nbytes > 0), t, 0.0)


def allreduce_latency(cfgs):
    """NCCL's fixed cost, or the custom kernel's where it is lower (single node only)."""
    custom = (cfgs[:, c.CAR_S_PER_BYTE] > 0) & (cfgs[:, c.TP] <= cfgs[:, c.NODE_GPUS])
    return np.where(
        custom, np.minimum(cfgs[:, c.AR_ALPHA_S], cfgs[:, c.CAR_ALPHA_S]), cfgs[:, c.AR_ALPHA_S]
    )


def alltoall_time(cfgs, nbytes):
    """Each GPU sends nbytes, (n-1)/n of them to the others: those in its node over
    NVLink, the rest over the network, concurrently."""
    n = cfgs[:, c.TP]
    local = np.minimum(n, cfgs[:, c.NODE_GPUS])
    nbytes = np.asarray(nbytes, dtype=float)
    intra = (local - 1.0) / n * nbytes / cfgs[:, c.AR_BW_BYTES_PER_S]
    inter = (n - local) / n * nbytes / cfgs[:, c.INTER_BW_BYTES_PER_S]
    alpha = np.where(
        n > local,
        np.maximum(cfgs[:, c.AR_ALPHA_S], cfgs[:, c.INTER_ALPHA_S]),
        cfgs[:, c.AR_ALPHA_S],
    )
    t = alpha + np.maximum(intra, inter)
    return np.where((n > 1) & (nbytes > 0), t, 0.0)


def dp_layer_time(cfgs, t, prefill_tokens, prefill_pairs, decode_ctx, *, moe, queries=1.0):
    """Data-parallel attention (each GPU its own 1/n of the tokens, all heads) with
    expert-parallel MoE (dispatch and combine all-to-alls of each token to its k experts)
    or a TP-sharded dense MLP over all tokens (one all-reduce's traffic)."""
    n = cfgs[:, c.TP]
    t = np.asarray(t, dtype=float)
    p = np.asarray(prefill_tokens, dtype=float)
    # the busiest GPU: whole decoding sequences, ceil(seqs / n); prefill spread evenly
    seqs = (t - p) / queries
    own_seqs = np.where(seqs > 0, np.ceil(seqs / n - 1e-9), 0.0)
    share = np.where(seqs > 0, own_seqs / np.where(seqs > 0, seqs, 1.0), 0.0)
    own = p / n + own_seqs * queries
    total = attention_projections_time(cfgs, own)
    total = total + attention_core_time(
        cfgs, p / n, np.asarray(prefill_pairs) / n, np.asarray(decode_ctx) * share, queries
    )
    total = total + elementwise_time(cfgs, own)
    hidden_bytes = cfgs[:, c.HIDDEN] * cfgs[:, c.A_BYTES]
    # whole dense MLPs run each GPU's own tokens with no collective; split ones gather
    # every token (one all-reduce's traffic)
    whole = _shapes(cfgs).dense_tp < n
    mlp_tokens = np.where(whole, own, t)
    if moe:
        total = total + moe_layer_ffn_time(cfgs, t, mlp_tokens)
        total = total + 2.0 * alltoall_time(cfgs, own * cfgs[:, c.EXPERTS_PER_TOKEN] * hidden_bytes)
    else:
        total = total + dense_mlp_time(cfgs, mlp_tokens, cfgs[:, c.INTERMEDIATE])
        total = total + np.where(whole, 0.0, allreduce_time(cfgs, t * hidden_bytes))
    return np.where(t > 0, total, 0.0)


def layer_time(cfgs, t, prefill_tokens, prefill_pairs, decode_ctx, *, moe, queries=1.0):
    """One transformer layer (dense MLP or MoE) on one GPU."""
    t = np.asarray(t, dtype=float)
    dp = dp_layer_time(cfgs, t, prefill_tokens, prefill_pairs, decode_ctx, moe=moe, queries=queries)
    tp = tp_layer_time(cfgs, t, prefill_tokens, prefill_pairs, decode_ctx, moe=moe, queries=queries)
    return np.where((cfgs[:, c.ATT_DP] > 0) & (cfgs[:, c.TP] > 1), dp, tp)


def tp_layer_time(cfgs, t, prefill_tokens, prefill_pairs, decode_ctx, *, moe, queries=1.0):
    """One transformer layer (dense MLP or MoE) on one GPU, tensor-parallel."""
    t = np.asarray(t, dtype=float)
    total = attention_projections_time(cfgs, t)
    total = total + attention_core_time(cfgs, prefill_tokens, prefill_pairs, decode_ctx, queries)
    if moe:
        total = total + moe_layer_ffn_time(cfgs, t)
    else:
        total = total + dense_mlp_time(cfgs, t, cfgs[:, c.INTERMEDIATE])
    total = total + elementwise_time(cfgs, t)
    # Megatron TP: all-reduce of the (t x h) activations after attention and after the MLP
    total = total + 2.0 * allreduce_time(cfgs, t * cfgs[:, c.HIDDEN] * cfgs[:, c.A_BYTES])
    return np.where(t > 0, total, 0.0)


def lm_head_time(cfgs, rows):
    """Vocab-parallel 16-bit LM head for the rows that need logits, plus one small kernel."""
    rows = np.asarray(rows, dtype=float)
    s = _shapes(cfgs)
    # a whole LM head (data-parallel attention) serves the busiest GPU's own rows
    rows = np.where(s.dense_tp < s.tp, np.ceil(rows / s.tp - 1e-9), rows)
    t = _fp16_gemm(cfgs, rows, cfgs[:, c.HIDDEN], cfgs[:, c.VOCAB] / s.dense_tp)
    return np.where(rows > 0, t + cfgs[:, c.T0_ELEM_S], 0.0)


def indexer_time(cfgs, prefill_tokens, prefill_pairs, decode_ctx, queries):
    """DeepSeek sparse attention's indexer per layer on one GPU: 2 * heads * dim FLOPs per
    scored (query, key) pair at the GEMM peak, and its 132-byte FP8 keys read per
    decoded context token (written per prompt token); 0 without sparse attention."""
    heads, dim = cfgs[:, c.INDEXER_HEADS], cfgs[:, c.INDEXER_HEAD_DIM]
    key_bytes = dim + np.ceil(dim / 128.0) * 4.0
    peak = cfgs[:, c.PEAK_GEMM_FLOP_PER_S] * cfgs[:, c.ETA_ATT_PRE]
    bw = cfgs[:, c.BW_BYTES_PER_S] * cfgs[:, c.ETA_ATT_DEC]
    per_pair = 2.0 * heads * dim
    dec = np.maximum(decode_ctx * key_bytes / bw, queries * decode_ctx * per_pair / peak)
    pre = np.maximum(prefill_tokens * key_bytes / bw, prefill_pairs * per_pair / peak)
    t0 = cfgs[:, c.T0_ATT_S]
    total = np.where(decode_ctx > 0, dec + t0, 0.0) + np.where(prefill_tokens > 0, pre + t0, 0.0)
    return np.where(heads > 0, total, 0.0)


def step_time(
    cfgs,
    prefill_tokens,
    prefill_pairs,
    prefill_seqs,
    decode_seqs,
    decode_ctx,
):
    """Seconds of one engine iteration for every row of ``cfgs``."""
    cfgs = np.asarray(cfgs, dtype=float)
    n = cfgs.shape[0]

    def arr(x):
        return np.broadcast_to(np.asarray(x, dtype=float), (n,))

    prefill_tokens, prefill_pairs = arr(prefill_tokens), arr(prefill_pairs)
    prefill_seqs, decode_seqs, decode_ctx = arr(prefill_seqs), arr(decode_seqs), arr(decode_ctx)
    s = _shapes(cfgs)
    # speculative decoding verifies k drafts plus one token per decoding sequence
    q = 1.0 + cfgs[:, c.SPEC_TOKENS]
    tokens = prefill_tokens + decode_seqs * q
    # Pipeline: the batch splits into m micro-batches (at most one per sequence, at most
    # pp); each stage runs ceil(L / pp) layers on one micro-batch. In steady state the
    # micro-batches chase each other through the stages (vLLM's virtual engines), so a
    # sequence's next token comes after its micro-batch crossed all pp stages: pp stage
    # times of a 1/m micro-batch. With m < pp some stages idle (the bubble) but the
    # interval is still pp stage times.
    micro = np.minimum(s.pp, np.maximum(prefill_seqs + decode_seqs, 1.0))
    mb = (tokens / micro, prefill_tokens / micro, prefill_pairs / micro, decode_ctx / micro)

    def mixed(pairs, ctx):
        dense_layer = layer_time(cfgs, mb[0], mb[1], pairs, ctx, moe=False, queries=q)
        moe_layer = layer_time(cfgs, mb[0], mb[1], pairs, ctx, moe=True, queries=q)
        # kernel choice: every stage holds the model-wide mix of dense and MoE layers
        return np.where(
            s.is_moe, s.dense_frac * dense_layer + (1.0 - s.dense_frac) * moe_layer, dense_layer
        )

    # windowed layers score at most `window` keys per prompt token and read at most
    # `window` (+ the new token) per decoding sequence
    window = cfgs[:, c.SWA_WINDOW_TOKENS]
    swa = np.minimum(cfgs[:, c.SWA_LAYERS], s.layers) / s.layers
    seqs = (mb[0] - mb[1]) / q
    windowed = mixed(np.minimum(mb[2], mb[1] * window), np.minimum(mb[3], seqs * (window + 1.0)))
    # sparse attention: attention over each query's top k keys, plus the indexer that
    # scores them all (on data-parallel attention GPUs: their own requests' share)
    topk = cfgs[:, c.DSA_TOPK_TOKENS]
    dp = (cfgs[:, c.ATT_DP] > 0) & (s.tp > 1)
    own_seqs = np.where(seqs > 0, np.ceil(seqs / s.tp - 1e-9), 0.0)
    share = np.where(dp, np.where(seqs > 0, own_seqs / np.where(seqs > 0, seqs, 1.0), 0.0), 1.0)
    n_dp = np.where(dp, s.tp, 1.0)
    sparse = mixed(np.minimum(mb[2], mb[1] * topk), np.minimum(mb[3], seqs * topk))
    sparse = sparse + indexer_time(cfgs, mb[1] / n_dp, mb[2] / n_dp, mb[3] * share, q)
    full = np.where(topk > 0, sparse, mixed(mb[2], mb[3]))
    per_layer = np.where(swa > 0, (1.0 - swa) * full + swa * windowed, full)
    stage = s.layers_per_stage * per_layer
    send = (
        cfgs[:, c.P2P_ALPHA_S]
        + mb[0] * s.hidden * cfgs[:, c.A_BYTES] / cfgs[:, c.P2P_BW_BYTES_PER_S]
    )
    stage = stage + np.where(s.pp > 1, send, 0.0)
    head = lm_head_time(cfgs, prefill_seqs + decode_seqs * q)
    host = cfgs[:, c.T_ITER_S] + (prefill_seqs + decode_seqs) * cfgs[:, c.T_SEQ_S]
    total = s.pp * stage + head + host + draft_time(cfgs, decode_seqs, decode_ctx)
    return np.where(tokens > 0, total, 0.0)


def draft_time(cfgs, seqs, ctx):
    """k sequential draft steps: a target-shaped layer plus the LM head (EAGLE, MTP), a
    whole small model's roofline (draft model), or nothing (n-gram, no speculation)."""
    s = _shapes(cfgs)
    k = cfgs[:, c.SPEC_TOKENS]
    kind = cfgs[:, c.DRAFT_KIND]
    seqs = np.asarray(seqs, dtype=float)
    drafting = (k > 0) & (seqs > 0)
    if not np.any(drafting):
        return np.zeros(cfgs.shape[0])
    seqs = np.maximum(seqs, 1e-300)  # rows without decodes are masked out below
    head_dense = layer_time(cfgs, seqs, 0.0, 0.0, ctx, moe=False) + lm_head_time(cfgs, seqs)
    head_moe = layer_time(cfgs, seqs, 0.0, 0.0, ctx, moe=True) + lm_head_time(cfgs, seqs)
    params = cfgs[:, c.DRAFT_PARAMS_PER_GPU]
    layers = cfgs[:, c.DRAFT_LAYERS]
    fixed = layers * (4.0 * cfgs[:, c.T0_GEMM_S] + cfgs[:, c.T0_ATT_S] + 6.0 * cfgs[:, c.T0_ELEM_S])
    fixed = fixed + np.where(s.tp > 1, 2.0 * layers * allreduce_latency(cfgs), 0.0)
    model = _roofline(
        2.0 * params * seqs,
        cfgs[:, c.PEAK_FP16_FLOP_PER_S],
        cfgs[:, c.ETA_C] * seqs / (seqs + cfgs[:, c.M_HALF_16_TOKENS]),
        params * cfgs[:, c.DRAFT_W_BYTES]
        + ctx * cfgs[:, c.DRAFT_KV_ELEMS_PER_GPU] * cfgs[:, c.KV_BYTES],
        cfgs[:, c.BW_BYTES_PER_S],
        cfgs[:, c.ETA_M],
        fixed,
    )
    one = np.select(
        [kind == 1, (kind == 2) & s.is_moe, kind == 2, kind == 3],
        [head_dense, head_moe, head_dense, model],
        0.0,
    )
    return np.where(drafting, k * one, 0.0)


# ----------------------------------------------------------------------------- memory


def linear_params_per_layer_per_gpu(cfgs):
    """Linear-layer parameters of one layer on one GPU, dense and MoE variants.

    Returns (dense_layer, moe_layer). Row-/column-parallel matrices divide by TP; the
    MLA down-projections (to the q and kv latents) and the MoE router are replicated.
    """
    s = _shapes(cfgs)
    h = s.hidden
    q_lora, kv_lora = cfgs[:, c.Q_LORA], cfgs[:, c.KV_LORA]
    nope, rope, v_hd = cfgs[:, c.QK_NOPE], cfgs[:, c.QK_ROPE], cfgs[:, c.V_HD]
    q_out = s.q_heads * (nope + rope)
    mla_q = np.where(q_lora > 0, h * q_lora + q_lora * q_out, h * q_out)
    mla = mla_q + h * (kv_lora + rope) + kv_lora * s.q_heads * (nope + v_hd)
    mla = mla + s.q_heads * v_hd * h
    std = h * s.head_dim * (s.q_heads + 2 * s.kv_heads) + s.q_heads * s.head_dim * h
    attn = np.where(s.is_mla, mla, std)
    dense = attn + s.mlp_mats * h * cfgs[:, c.INTERMEDIATE] / s.dense_tp
    expert = s.mlp_mats * h * cfgs[:, c.EXPERT_INTERMEDIATE]
    moe = (
        attn
        + cfgs[:, c.EXPERTS] * expert / s.tp
        + cfgs[:, c.SHARED_EXPERTS] * expert / s.dense_tp
        + h * cfgs[:, c.EXPERTS]
    )
    return dense, moe


def weight_bytes_per_gpu(cfgs):
    """Quantized linear layers of one stage + 16-bit vocab-parallel embedding/LM head."""
    s = _shapes(cfgs)
    dense, moe = linear_params_per_layer_per_gpu(cfgs)
    # kernel choice: an "average" stage (model-wide dense/MoE mix) of ceil(L / pp) layers
    per_layer = np.where(s.is_moe, s.dense_frac * dense + (1.0 - s.dense_frac) * moe, dense)
    linear = s.layers_per_stage * per_layer * cfgs[:, c.W_BYTES]
    table = cfgs[:, c.VOCAB] * s.hidden / s.dense_tp * cfgs[:, c.A_BYTES]
    # pp = 1: embedding and LM head on every GPU (one table when tied);
    # pp > 1: the embedding lives on the first stage, the LM head on the last.
    n_tables = np.where(s.pp > 1, 1.0, np.where(cfgs[:, c.TIE] > 0, 1.0, 2.0))
    draft = np.where(
        cfgs[:, c.SPEC_TOKENS] > 0, cfgs[:, c.DRAFT_PARAMS_PER_GPU] * cfgs[:, c.DRAFT_W_BYTES], 0.0
    )
    return linear + n_tables * table + draft


def kv_bytes_per_token(cfgs):
    """KV-cache bytes per token on one GPU: its stage's layers, and the drafter's."""
    s = _shapes(cfgs)
    draft = np.where(cfgs[:, c.SPEC_TOKENS] > 0, cfgs[:, c.DRAFT_KV_ELEMS_PER_GPU], 0.0)
    own = s.layers_per_stage * kv_elems_per_token_per_layer(cfgs)
    # the sparse-attention indexer's FP8 keys (+ fp32 scale per 128) whatever the KV dtype
    dim = cfgs[:, c.INDEXER_HEAD_DIM]
    indexer = np.where(cfgs[:, c.INDEXER_HEADS] > 0, dim + np.ceil(dim / 128.0) * 4.0, 0.0)
    return (own + draft) * cfgs[:, c.KV_BYTES] + s.layers_per_stage * indexer


def activation_reserve_bytes(cfgs):
    """Peak activations of a max_num_batched_tokens forward pass + fp32 logits (per GPU):
    residual, QKV, and the wider of the dense MLP and the fused MoE's per-(token, expert)
    gate/up, activation and down-projection outputs (over every DP rank's tokens under
    attention DP, with whole experts) plus the shared experts."""
    s = _shapes(cfgs)
    tokens = cfgs[:, c.MAX_BATCHED_TOKENS]
    # QKV output per token: GQA/MHA writes the GPU's query heads plus K and V of its KV
    # heads (replicated, so at least one, once TP exceeds them). MLA writes every query
    # head's nope + rope width plus the shared compressed latent and RoPE key (kept whole
    # on every TP rank).
    nope, rope = cfgs[:, c.QK_NOPE], cfgs[:, c.QK_ROPE]
    mla_qkv = s.q_heads * (nope + rope) + cfgs[:, c.KV_LORA] + rope
    std_qkv = (s.q_heads + 2 * s.kv_heads) * s.head_dim
    qkv = np.where(s.is_mla, mla_qkv, std_qkv)
    mats = 2.0 + s.gated
    dense_mlp = tokens * mats * cfgs[:, c.INTERMEDIATE] / s.dense_tp
    ep = cfgs[:, c.ATT_DP] > 0
    expert_width = cfgs[:, c.EXPERT_INTERMEDIATE] / np.where(ep, 1.0, s.tp)
    moe_rows = tokens * np.where(ep, s.tp, 1.0)
    chunk = cfgs[:, c.MOE_MAX_TOKENS]
    moe_rows = np.where(chunk > 0, np.minimum(moe_rows, chunk), moe_rows)
    routed = cfgs[:, c.EXPERTS_PER_TOKEN] * (mats * expert_width + s.hidden)
    shared = cfgs[:, c.SHARED_EXPERTS] * mats * cfgs[:, c.EXPERT_INTERMEDIATE] / s.dense_tp
    moe = moe_rows * routed + tokens * shared
    mlp = np.where(s.is_moe, np.maximum(dense_mlp, moe), dense_mlp)
    logit_rows = np.minimum(cfgs[:, c.MAX_NUM_SEQS], tokens)
    logits = logit_rows * cfgs[:, c.VOCAB] / s.dense_tp * 4.0
    return (tokens * (2 * s.hidden + qkv) + mlp) * cfgs[:, c.A_BYTES] + logits


def kv_capacity_tokens(cfgs):
    """Tokens of KV cache left inside gpu_memory_utilization, in whole blocks (0 if none)."""
    budget = cfgs[:, c.MEM_BYTES] * cfgs[:, c.MEM_UTIL]
    used = (
        weight_bytes_per_gpu(cfgs) + activation_reserve_bytes(cfgs) + cfgs[:, c.RESERVE_FIXED_BYTES]
    )
    free = budget - used
    block = cfgs[:, c.BLOCK_TOKENS]
    tokens = np.floor(free / kv_bytes_per_token(cfgs))
    # data-parallel attention: every GPU keeps its own requests' KV, n pools
    tokens = tokens * np.where(cfgs[:, c.ATT_DP] > 0, cfgs[:, c.TP], 1.0)
    blocks = np.floor(tokens / block)
    return np.where(free > 0, blocks * block, 0.0)


def kv_units(cfgs, tokens):
    """KV a sequence holds, in tokens of every layer: windowed layers keep their window."""
    swa = np.minimum(cfgs[:, c.SWA_LAYERS], cfgs[:, c.LAYERS]) / cfgs[:, c.LAYERS]
    tokens = np.asarray(tokens, dtype=float)
    return (1.0 - swa) * tokens + swa * np.minimum(tokens, cfgs[:, c.SWA_WINDOW_TOKENS])


def reused_prompt(cfgs, prompt):
    """Prompt tokens reused from the prefix cache: the shared prefix, a share of the rest,
    never the last token."""
    prompt = np.asarray(prompt, dtype=float)
    shared = np.minimum(cfgs[:, c.PREFIX_HIT_TOKENS], prompt)
    hit = shared + cfgs[:, c.PREFIX_HIT_SHARE] * (prompt - shared)
    return np.clip(hit, 0.0, np.maximum(prompt - 1.0, 0.0))


def max_batch(cfgs, input_tokens, output_tokens):
    """Sequences of input + output tokens whose KV blocks all fit at once; with a cached
    shared prefix (its pool held once, its hit tokens not per sequence) whichever fits
    more, since the engine evicts unused cached prefixes."""
    block = cfgs[:, c.BLOCK_TOKENS]
    total = np.floor(kv_capacity_tokens(cfgs) / block)
    inp = np.asarray(input_tokens, dtype=float)
    out = np.asarray(output_tokens, dtype=float)
    whole = np.ceil(kv_units(cfgs, inp + out) / block - 1e-9)
    plain = np.where(whole > 0, np.floor(total / np.where(whole > 0, whole, 1.0)), 0.0)
    pool = np.ceil(cfgs[:, c.PREFIX_POOL_TOKENS] / block)
    hit = reused_prompt(cfgs, inp)
    own = np.ceil(kv_units(cfgs, inp + out - hit) / block - 1e-9)
    shared = np.floor((total - pool) / np.where(own > 0, own, 1.0))
    return np.where((pool > 0) & (own > 0), np.maximum(plain, shared), plain)


def memory_table(cfgs, input_tokens, output_tokens):
    """Same columns as ``memory_many``: weights, KV/token, reserve, KV capacity, max batch."""
    return np.stack(
        [
            weight_bytes_per_gpu(cfgs),
            kv_bytes_per_token(cfgs),
            activation_reserve_bytes(cfgs) + cfgs[:, c.RESERVE_FIXED_BYTES],
            kv_capacity_tokens(cfgs),
            max_batch(cfgs, input_tokens, output_tokens),
        ],
        axis=1,
    )


# ------------------------------------------------------------------------ static batch


def static_batch(cfgs, batch, input_tokens, output_tokens):
    """(n, 3) array of ttft, tpot, e2e seconds for static batches.

    One prefill iteration over all ``batch * input_tokens`` prompt tokens (causal pairs
    i(i+1)/2 per sequence) less any cached prefix (which the new tokens attend to), then
    the decode iterations of the ``output_tokens - 1`` remaining tokens, E per iteration
    with speculative decoding; decode step j (0-based) attends over the prompt, the j E
    earlier generated tokens and the new one. TPOT is per token, not per iteration.
    """
    cfgs = np.asarray(cfgs, dtype=float)
    n = cfgs.shape[0]
    b = np.broadcast_to(np.asarray(batch, dtype=float), (n,))
    i_len = np.broadcast_to(np.asarray(input_tokens, dtype=float), (n,))
    hit = reused_prompt(cfgs, i_len)
    new = i_len - hit
    k, a = cfgs[:, c.SPEC_TOKENS], cfgs[:, c.SPEC_ACCEPT]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_step = np.where(
            k > 0, np.where(a >= 1.0, k + 1.0, (1.0 - a ** (k + 1.0)) / (1.0 - a)), 1.0
        )
    tokens = np.maximum(np.broadcast_to(np.asarray(output_tokens), (n,)).astype(np.int64) - 1, 0)
    steps = np.ceil(tokens / per_step).astype(np.int64)
    ttft = step_time(cfgs, b * new, b * new * (hit + (new + 1) / 2), b, 0.0, 0.0)
    # all decode steps of all rows as one flat batch of iterations
    row = np.repeat(np.arange(n), steps)
    j = np.arange(row.size) - np.repeat(np.cumsum(steps) - steps, steps)
    ctx = b[row] * (i_len[row] + 1 + j * per_step[row])
    dec = step_time(cfgs[row], 0.0, 0.0, 0.0, b[row], ctx)
    decode = np.bincount(row, weights=dec, minlength=n)
    tpot = np.where(tokens > 0, decode / np.maximum(tokens, 1), 0.0)
    return np.stack([ttft, tpot, ttft + decode], axis=1)
