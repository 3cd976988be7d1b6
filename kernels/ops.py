"""The cost of each op group of a transformer layer on one GPU, from a roofline.

Each op group (QKV projection, attention, output projection, MLP or routed experts,
element-wise ops, all-reduces and all-to-alls) has FLOPs and bytes moved. Its time is

    t = max(FLOPs / (peak * eta_c), bytes / (bandwidth * eta_m)) + t0

i.e. an op is limited by whichever of compute or memory takes longer (the two overlap
inside a kernel), plus a fixed per-kernel cost. GEMM compute efficiency grows with the
token count M as ``eta_c * M / (M + m_half)`` because small GEMMs cannot fill the GPU.
:mod:`simplan.kernels.roofline` adds them up into layers and engine iterations.

All functions take the configuration vector described in :mod:`simplan.kernels.layout`.
"""

from __future__ import annotations

import math

from simplan.kernels import layout as c
from simplan.kernels._jit import kernel


@kernel
def gemm_time_s(cfg, m, k, n, weight_bytes, peak, dequant, m_half):
    """Time of an (m x k) @ (k x n) GEMM whose weights take ``weight_bytes`` per element.

    ``dequant`` is the extra compute fraction of weight-only kernels' dequantization (or a
    block-scaled format's measured shortfall against 16-bit GEMMs, NVFP4's) and ``m_half``
    the token count at which compute efficiency is half its maximum.
    """
    if m <= 0.0:
        return 0.0
    flops = 2.0 * m * k * n
    eta = cfg[c.ETA_C] * m / (m + m_half)
    t_compute = flops / (peak * eta) * (1.0 + dequant)
    nbytes = k * n * weight_bytes + (m * k + m * n) * cfg[c.A_BYTES]
    t_memory = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_M])
    return max(t_compute, t_memory) + cfg[c.T0_GEMM_S]


@kernel
def attention_tp(cfg):
    """GPUs a layer's attention heads are split over: the TP degree, or 1 when attention
    runs data-parallel (``ATT_DP``: each GPU runs every head for its own requests)."""
    return 1.0 if cfg[c.ATT_DP] > 0.0 else cfg[c.TP]


@kernel
def dense_tp(cfg):
    """GPUs a dense MLP, a shared expert or a vocabulary table is split over: the TP
    degree, or 1 where data-parallel attention keeps them whole on every GPU
    (``ADP_WHOLE_DENSE``: each GPU runs them for its own tokens)."""
    if cfg[c.ATT_DP] > 0.0 and cfg[c.ADP_WHOLE_DENSE] > 0.0:
        return 1.0
    return cfg[c.TP]


@kernel
def kv_heads_per_gpu(cfg):
    """KV heads each GPU holds; heads are replicated when TP exceeds the KV-head count
    (with data-parallel attention a GPU holds every head of its own requests)."""
    return max(cfg[c.KV_HEADS] / attention_tp(cfg), 1.0)


@kernel
def kv_elems_per_token_per_layer(cfg):
    """KV-cache elements one token adds to one layer on one GPU.

    MLA caches one compressed latent (plus the decoupled RoPE key) shared by all heads,
    and every TP rank keeps the whole latent, so TP does not shrink it.
    """
    if cfg[c.MLA] > 0.0:
        return cfg[c.KV_LORA] + cfg[c.QK_ROPE]
    return 2.0 * kv_heads_per_gpu(cfg) * cfg[c.HEAD_DIM]


@kernel
def moe_distinct_experts(num_experts, experts_per_token, tokens):
    """Expected number of distinct experts T tokens touch: E * (1 - (1 - k/E)^T).

    Written as ``-E expm1(T log1p(-k/E))``: the same value without the cancellation of
    ``1 - (...)^T`` when T is small (at T = 1e-14 the direct form is off by half)."""
    if tokens <= 0.0:
        return 0.0
    return -num_experts * math.expm1(tokens * math.log1p(-experts_per_token / num_experts))


@kernel
def attention_proj_time_s(cfg, t):
    """QKV and output projections of one layer for ``t`` tokens on one GPU."""
    tp = attention_tp(cfg)
    h = cfg[c.HIDDEN]
    heads = cfg[c.HEADS] / tp
    wb = cfg[c.W_BYTES]
    pk = cfg[c.PEAK_GEMM_FLOP_PER_S]
    dq = cfg[c.DEQUANT]
    mh = cfg[c.M_HALF_TOKENS]
    if cfg[c.MLA] > 0.0:
        qk_dim = cfg[c.QK_NOPE] + cfg[c.QK_ROPE]
        if cfg[c.Q_LORA] > 0.0:
            tq = gemm_time_s(cfg, t, h, cfg[c.Q_LORA], wb, pk, dq, mh)
            tq += gemm_time_s(cfg, t, cfg[c.Q_LORA], heads * qk_dim, wb, pk, dq, mh)
        else:
            tq = gemm_time_s(cfg, t, h, heads * qk_dim, wb, pk, dq, mh)
        tkv = gemm_time_s(cfg, t, h, cfg[c.KV_LORA] + cfg[c.QK_ROPE], wb, pk, dq, mh)
        tkv += gemm_time_s(
            cfg, t, cfg[c.KV_LORA], heads * (cfg[c.QK_NOPE] + cfg[c.V_HD]), wb, pk, dq, mh
        )
        to = gemm_time_s(cfg, t, heads * cfg[c.V_HD], h, wb, pk, dq, mh)
        return tq + tkv + to
    hd = cfg[c.HEAD_DIM]
    qkv = gemm_time_s(cfg, t, h, (heads + 2.0 * kv_heads_per_gpu(cfg)) * hd, wb, pk, dq, mh)
    out = gemm_time_s(cfg, t, heads * hd, h, wb, pk, dq, mh)
    return qkv + out


@kernel
def attention_core_time_s(cfg, prefill_tokens, prefill_pairs, decode_ctx_tokens, queries):
    """Attention kernels of one layer on one GPU.

    ``prefill_pairs`` is the number of (query, key) pairs of the prefill chunks
    (sum over chunks of chunk * (prefix + (chunk + 1) / 2)); ``decode_ctx_tokens`` the
    total context the decoding sequences read, each with ``queries`` query tokens (1, or
    k + 1 when verifying drafts). Decode attention reads the KV cache once
    (memory-bound); prefill attention is FLOP-bound (flash attention).
    """
    heads = cfg[c.HEADS] / attention_tp(cfg)
    kv_elems = kv_elems_per_token_per_layer(cfg)
    if cfg[c.MLA] > 0.0:
        # Absorbed MLA: scores against the latent+rope key, values from the latent.
        flops_per_pair = heads * (2.0 * (cfg[c.KV_LORA] + cfg[c.QK_ROPE]) + 2.0 * cfg[c.KV_LORA])
        prefill_flops_per_pair = heads * (
            2.0 * (cfg[c.QK_NOPE] + cfg[c.QK_ROPE]) + 2.0 * cfg[c.V_HD]
        )
        if cfg[c.DSA_TOPK_TOKENS] > 0.0:
            # sparse MLA (FlashMLA sparse) runs absorbed against the latent in prefill too
            prefill_flops_per_pair = flops_per_pair
    else:
        flops_per_pair = 4.0 * heads * cfg[c.HEAD_DIM]
        prefill_flops_per_pair = flops_per_pair
    t = 0.0
    if decode_ctx_tokens > 0.0:
        # the compute side binds only for many verify queries over long contexts, where
        # the long-context efficiency applies
        nbytes = decode_ctx_tokens * kv_elems * cfg[c.KV_BYTES]
        t_mem = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_ATT_DEC])
        t_cmp = (
            queries
            * decode_ctx_tokens
            * flops_per_pair
            / (cfg[c.PEAK_FP16_FLOP_PER_S] * cfg[c.ETA_ATT_PRE])
        )
        t += max(t_mem, t_cmp) + cfg[c.T0_ATT_S]
    if prefill_tokens > 0.0:
        # flash attention's efficiency grows with the context each query attends to
        ctx = prefill_pairs / prefill_tokens
        t_cmp = 0.0
        if ctx > 0.0:
            eta = cfg[c.ETA_ATT_PRE] * ctx / (ctx + cfg[c.ATT_L_HALF_TOKENS])
            t_cmp = prefill_pairs * prefill_flops_per_pair / (cfg[c.PEAK_FP16_FLOP_PER_S] * eta)
        nbytes = prefill_tokens * kv_elems * cfg[c.KV_BYTES]
        t_mem = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_ATT_DEC])
        t += max(t_mem, t_cmp) + cfg[c.T0_ATT_S]
    return t


@kernel
def indexer_bytes_per_token_per_layer(cfg):
    """Bytes of the sparse-attention indexer's key cache per token and layer: the FP8 key
    and one fp32 scale per 128 values (132 B for DeepSeek-V3.2 in vLLM, SGLang and
    TensorRT-LLM alike), whatever the KV cache dtype; one key per token, replicated on
    every tensor-parallel rank as the MLA latent is; 0 for dense attention."""
    if cfg[c.INDEXER_HEADS] <= 0.0:
        return 0.0
    dim = cfg[c.INDEXER_HEAD_DIM]
    return dim + math.ceil(dim / 128.0) * 4.0


@kernel
def indexer_time_s(cfg, prefill_tokens, prefill_pairs, decode_ctx_tokens, queries):
    """The sparse-attention indexer of one layer on one GPU (0 for dense attention).

    It scores every (query, key) pair the dense attention would, with INDEXER_HEADS heads
    of INDEXER_HEAD_DIM in FP8 (DeepGEMM's MQA logits), then keeps the top
    DSA_TOPK_TOKENS keys per query; decoding reads every cached indexer key. Compute runs
    at the weights' GEMM peak with the attention efficiencies. Under tensor parallelism
    every rank runs the whole indexer (assumed: its single key and 64 heads are not split
    across ranks), so its share of a layer is largest there and smallest with
    data-parallel attention.
    """
    heads = cfg[c.INDEXER_HEADS]
    if heads <= 0.0:
        return 0.0
    flops_per_pair = 2.0 * heads * cfg[c.INDEXER_HEAD_DIM]
    key_bytes = indexer_bytes_per_token_per_layer(cfg)
    t = 0.0
    if decode_ctx_tokens > 0.0:
        t_mem = decode_ctx_tokens * key_bytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_ATT_DEC])
        flops = queries * decode_ctx_tokens * flops_per_pair
        t_cmp = flops / (cfg[c.PEAK_GEMM_FLOP_PER_S] * cfg[c.ETA_ATT_PRE])
        t += max(t_mem, t_cmp) + cfg[c.T0_ATT_S]
    if prefill_tokens > 0.0:
        t_cmp = prefill_pairs * flops_per_pair / (cfg[c.PEAK_GEMM_FLOP_PER_S] * cfg[c.ETA_ATT_PRE])
        t_mem = prefill_tokens * key_bytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_ATT_DEC])
        t += max(t_mem, t_cmp) + cfg[c.T0_ATT_S]
    return t


@kernel
def dense_mlp_time_s(cfg, t, width):
    """Gate/up and down projections of an MLP of intermediate ``width`` for ``t`` tokens
    (split over :func:`dense_tp` GPUs)."""
    tp = dense_tp(cfg)
    h = cfg[c.HIDDEN]
    wb = cfg[c.W_BYTES]
    pk = cfg[c.PEAK_GEMM_FLOP_PER_S]
    dq = cfg[c.DEQUANT]
    mh = cfg[c.M_HALF_TOKENS]
    up = gemm_time_s(cfg, t, h, (1.0 + cfg[c.GATED]) * width / tp, wb, pk, dq, mh)
    down = gemm_time_s(cfg, t, width / tp, h, wb, pk, dq, mh)
    return up + down


@kernel
def moe_time_s(cfg, t, shared_tokens):
    """Routed and shared experts of one MoE layer for ``t`` tokens on one GPU.

    Experts are tensor-parallel (each expert's matrices split across the TP group), as
    vLLM does without expert parallelism. Weight bytes come from the distinct experts the
    batch touches; FLOPs from the k experts each token uses. The shared experts run for
    ``shared_tokens``: all ``t`` when they are split like the routed ones, a GPU's own
    tokens when data-parallel attention keeps them whole (:func:`dense_tp`).
    """
    if t <= 0.0:
        return 0.0
    tp = cfg[c.TP]
    h = cfg[c.HIDDEN]
    e = cfg[c.EXPERTS]
    k = cfg[c.EXPERTS_PER_TOKEN]
    width = cfg[c.EXPERT_INTERMEDIATE] / tp
    mats = 2.0 + cfg[c.GATED]
    touched = moe_distinct_experts(e, k, t)
    params_per_expert = mats * h * width
    flops = 2.0 * t * k * params_per_expert
    m_per_expert = t * k / touched
    # expert-parallel GPUs (ATT_DP) hold whole experts, tensor-parallel ones a 1/tp slice
    own_width = cfg[c.EXPERT_INTERMEDIATE] if cfg[c.ATT_DP] > 0.0 else width
    grouped = own_width / (own_width + cfg[c.MOE_HALF_WIDTH])
    # Narrow experts lower the grouped GEMM's peak, not its weight-read time: the ramp's
    # half point moves with the peak, so a few rows per expert cost what a dense GEMM's
    # weight read does (else a thin expert at M = 1 would turn compute-bound).
    m_half = grouped * cfg[c.M_HALF_TOKENS]
    eta = grouped * cfg[c.ETA_C] * m_per_expert / (m_per_expert + m_half)
    t_compute = flops / (cfg[c.PEAK_GEMM_FLOP_PER_S] * eta) * (1.0 + cfg[c.DEQUANT])
    nbytes = (
        touched * params_per_expert * cfg[c.W_BYTES]
        + t * k * (2.0 * h + 2.0 * width) * cfg[c.A_BYTES]
    )
    t_memory = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_M])
    # router GEMM (replicated, tiny) + grouped expert GEMMs (up and down) + routing kernels
    routed = max(t_compute, t_memory) + 2.0 * cfg[c.T0_GEMM_S] + cfg[c.T0_MOE_S]
    router = gemm_time_s(
        cfg, t, h, e, cfg[c.A_BYTES], cfg[c.PEAK_FP16_FLOP_PER_S], 0.0, cfg[c.M_HALF_16_TOKENS]
    )
    shared = 0.0
    if cfg[c.SHARED_EXPERTS] > 0.0:
        shared = dense_mlp_time_s(
            cfg, shared_tokens, cfg[c.SHARED_EXPERTS] * cfg[c.EXPERT_INTERMEDIATE]
        )
    return routed + router + shared


@kernel
def elementwise_time_s(cfg, t):
    """Norms, rotary embedding, activation and residual adds of one layer.

    Bytes follow the op definitions the efficiencies were fitted with: two norms
    (read + write T*H each), two residual adds (read 2, write 1 of T*H), rotary
    (read + write the Q and K heads), activation (read gate and up, write one).
    """
    if t <= 0.0:
        return 0.0
    # with data-parallel attention ``t`` is one GPU's own tokens, whose MLP rows (k experts
    # or a dense MLP) it gets back at full width: nothing is divided by TP
    tp = attention_tp(cfg)
    h = cfg[c.HIDDEN]
    heads = cfg[c.HEADS] / tp
    if cfg[c.EXPERTS] > 0.0:
        act_width = (
            cfg[c.EXPERTS_PER_TOKEN] * cfg[c.EXPERT_INTERMEDIATE]
            + cfg[c.SHARED_EXPERTS] * cfg[c.EXPERT_INTERMEDIATE]
        ) / tp
    else:
        act_width = cfg[c.INTERMEDIATE] / tp
    if cfg[c.MLA] > 0.0:
        rope_elems = (heads + 1.0) * cfg[c.QK_ROPE]  # MLA: one RoPE key shared by all heads
    else:
        rope_elems = (heads + kv_heads_per_gpu(cfg)) * cfg[c.HEAD_DIM]
    elems = 2.0 * (2.0 * t * h)  # two norms
    elems += 2.0 * (3.0 * t * h)  # two residual adds
    elems += 2.0 * t * rope_elems
    elems += t * act_width * (2.0 + cfg[c.GATED]) if cfg[c.GATED] > 0.0 else 2.0 * t * act_width
    nbytes = elems * cfg[c.A_BYTES]
    return nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_ELEM]) + 6.0 * cfg[c.T0_ELEM_S]


@kernel
def allreduce_time_s(cfg, nbytes):
    """Ring all-reduce over the TP group: latency + 2(n-1)/n * bytes / bus bandwidth, or
    the engine's custom kernel (latency + bytes x time per byte) where that is faster.

    A group wider than one node (``NODE_GPUS``) reduces hierarchically: within each node
    over NVLink, then each GPU all-reduces its 1/local slice with its peers in the other
    nodes over the network."""
    n = cfg[c.TP]
    if n <= 1.0 or nbytes <= 0.0:
        return 0.0
    local = min(n, cfg[c.NODE_GPUS])
    t = cfg[c.AR_ALPHA_S] + 2.0 * (local - 1.0) / local * nbytes / cfg[c.AR_BW_BYTES_PER_S]
    if n > local:
        m = n / local
        t += (
            cfg[c.INTER_ALPHA_S]
            + 2.0 * (m - 1.0) / m * nbytes / local / cfg[c.INTER_BW_BYTES_PER_S]
        )
    elif cfg[c.CAR_S_PER_BYTE] > 0.0:
        # engines with a custom kernel use it for the messages where it beats the ring
        t = min(t, cfg[c.CAR_ALPHA_S] + nbytes * cfg[c.CAR_S_PER_BYTE])
    return t


@kernel
def allreduce_latency_s(cfg):
    """Fixed cost of one all-reduce within a node: NCCL's, or the engine's custom
    kernel's where that is lower."""
    if cfg[c.CAR_S_PER_BYTE] > 0.0 and cfg[c.TP] <= cfg[c.NODE_GPUS]:
        return min(cfg[c.AR_ALPHA_S], cfg[c.CAR_ALPHA_S])
    return cfg[c.AR_ALPHA_S]


@kernel
def alltoall_time_s(cfg, nbytes):
    """All-to-all over the TP group, ``nbytes`` sent by each GPU: latency + (n-1)/n of
    them over the link (the rest stays local). Across nodes the share bound for other
    nodes goes over the network while the node's share goes over NVLink, at once."""
    n = cfg[c.TP]
    if n <= 1.0 or nbytes <= 0.0:
        return 0.0
    local = min(n, cfg[c.NODE_GPUS])
    intra = (local - 1.0) / n * nbytes / cfg[c.AR_BW_BYTES_PER_S]
    if n <= local:
        return cfg[c.AR_ALPHA_S] + intra
    inter = (n - local) / n * nbytes / cfg[c.INTER_BW_BYTES_PER_S]
    return max(cfg[c.AR_ALPHA_S], cfg[c.INTER_ALPHA_S]) + max(intra, inter)


@kernel
def attention_params(cfg, heads, kv_heads):
    """Attention projection parameters of one layer for ``heads`` query heads.

    Pass the whole model's heads for model totals, or one GPU's share for per-GPU
    weights (MLA's low-rank down-projections are replicated on every TP rank, so they
    do not shrink with ``heads``).
    """
    h = cfg[c.HIDDEN]
    if cfg[c.MLA] > 0.0:
        qk = cfg[c.QK_NOPE] + cfg[c.QK_ROPE]
        if cfg[c.Q_LORA] > 0.0:
            attn = h * cfg[c.Q_LORA] + cfg[c.Q_LORA] * heads * qk
        else:
            attn = h * heads * qk
        attn += h * (cfg[c.KV_LORA] + cfg[c.QK_ROPE])
        attn += cfg[c.KV_LORA] * heads * (cfg[c.QK_NOPE] + cfg[c.V_HD])
        return attn + heads * cfg[c.V_HD] * h
    return h * (heads + 2.0 * kv_heads) * cfg[c.HEAD_DIM] + heads * cfg[c.HEAD_DIM] * h
