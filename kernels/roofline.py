"""Per-iteration time of one replica from a roofline over the transformer's op groups.

Each op group (QKV projection, attention, output projection, MLP or routed experts,
element-wise ops, LM head, all-reduces) has FLOPs and bytes moved. Its time is

    t = max(FLOPs / (peak * eta_c), bytes / (bandwidth * eta_m)) + t0

i.e. an op is limited by whichever of compute or memory takes longer (the two overlap
inside a kernel), plus a fixed per-kernel cost. GEMM compute efficiency grows with the
token count M as ``eta_c * M / (M + m_half)`` because small GEMMs cannot fill the GPU.
Ops run one after another, so an iteration is the sum of its ops, plus a fixed
per-iteration overhead (scheduling, sampling, launches) that dominates small batches.

All functions take the configuration vector described in :mod:`simplan.kernels.layout`.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels import speculative as spec
from simplan.kernels._jit import kernel


@kernel
def gemm_time_s(cfg, m, k, n, weight_bytes, peak, dequant, m_half):
    """Time of an (m x k) @ (k x n) GEMM whose weights take ``weight_bytes`` per element.

    ``dequant`` is the extra compute fraction of weight-only kernels and ``m_half`` the
    token count at which compute efficiency is half its maximum.
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
    """Expected number of distinct experts T tokens touch: E * (1 - (1 - k/E)^T)."""
    if tokens <= 0.0:
        return 0.0
    return num_experts * (1.0 - (1.0 - experts_per_token / num_experts) ** tokens)


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
    else:
        flops_per_pair = 4.0 * heads * cfg[c.HEAD_DIM]
        prefill_flops_per_pair = flops_per_pair
    t = 0.0
    if decode_ctx_tokens > 0.0:
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
        t_cmp = (
            prefill_pairs
            * prefill_flops_per_pair
            / (cfg[c.PEAK_FP16_FLOP_PER_S] * cfg[c.ETA_ATT_PRE])
        )
        nbytes = prefill_tokens * kv_elems * cfg[c.KV_BYTES]
        t_mem = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_ATT_DEC])
        t += max(t_mem, t_cmp) + cfg[c.T0_ATT_S]
    return t


@kernel
def dense_mlp_time_s(cfg, t, width):
    """Gate/up and down projections of an MLP of intermediate ``width`` for ``t`` tokens."""
    tp = cfg[c.TP]
    h = cfg[c.HIDDEN]
    wb = cfg[c.W_BYTES]
    pk = cfg[c.PEAK_GEMM_FLOP_PER_S]
    dq = cfg[c.DEQUANT]
    mh = cfg[c.M_HALF_TOKENS]
    up = gemm_time_s(cfg, t, h, (1.0 + cfg[c.GATED]) * width / tp, wb, pk, dq, mh)
    down = gemm_time_s(cfg, t, width / tp, h, wb, pk, dq, mh)
    return up + down


@kernel
def moe_time_s(cfg, t):
    """Routed and shared experts of one MoE layer for ``t`` tokens on one GPU.

    Experts are tensor-parallel (each expert's matrices split across the TP group), as
    vLLM does without expert parallelism. Weight bytes come from the distinct experts the
    batch touches; FLOPs from the k experts each token uses.
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
    eta = cfg[c.ETA_C] * m_per_expert / (m_per_expert + cfg[c.M_HALF_TOKENS])
    t_compute = flops / (cfg[c.PEAK_GEMM_FLOP_PER_S] * eta) * (1.0 + cfg[c.DEQUANT])
    nbytes = (
        touched * params_per_expert * cfg[c.W_BYTES]
        + t * k * (2.0 * h + 2.0 * width) * cfg[c.A_BYTES]
    )
    t_memory = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_M])
    # router GEMM (replicated, tiny) + grouped expert GEMMs (up and down)
    routed = max(t_compute, t_memory) + 2.0 * cfg[c.T0_GEMM_S]
    router = gemm_time_s(
        cfg, t, h, e, cfg[c.A_BYTES], cfg[c.PEAK_FP16_FLOP_PER_S], 0.0, cfg[c.M_HALF_16_TOKENS]
    )
    shared = 0.0
    if cfg[c.SHARED_EXPERTS] > 0.0:
        shared = dense_mlp_time_s(cfg, t, cfg[c.SHARED_EXPERTS] * cfg[c.EXPERT_INTERMEDIATE])
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
    """Ring all-reduce over the TP group: latency + 2(n-1)/n * bytes / bus bandwidth."""
    n = cfg[c.TP]
    if n <= 1.0 or nbytes <= 0.0:
        return 0.0
    return cfg[c.AR_ALPHA_S] + 2.0 * (n - 1.0) / n * nbytes / cfg[c.AR_BW_BYTES_PER_S]


@kernel
def alltoall_time_s(cfg, nbytes):
    """All-to-all over the TP group, ``nbytes`` sent by each GPU: latency + (n-1)/n of
    them over the link (the rest stays local)."""
    n = cfg[c.TP]
    if n <= 1.0 or nbytes <= 0.0:
        return 0.0
    return cfg[c.AR_ALPHA_S] + (n - 1.0) / n * nbytes / cfg[c.AR_BW_BYTES_PER_S]


@kernel
def dp_layer_time_s(cfg, t, prefill_tokens, prefill_pairs, decode_ctx_tokens, moe_layer, queries):
    """One layer with data-parallel attention over the n = TP GPUs (``ATT_DP``).

    Each GPU runs every attention head for its own 1/n of the requests (weights
    replicated, no all-reduce after attention). MoE layers are expert-parallel: the GPUs
    hold E/n whole experts, which costs the same FLOPs and expert bytes per GPU as TP
    sharding, and each token's hidden state is sent to its k experts and back (dispatch
    and combine all-to-alls) instead of two all-reduces. Dense layers keep a TP-sharded
    MLP over all tokens (gathered and scattered: one all-reduce's traffic). The step
    waits for the busiest GPU: decoding sequences spread as evenly as whole sequences can
    (ceil(seqs / n) on the busiest, so a batch smaller than n leaves GPUs idle); prefill
    tokens are assumed spread evenly.
    """
    n = cfg[c.TP]
    seqs = (t - prefill_tokens) / queries if queries > 0.0 else 0.0
    own_seqs = math.ceil(seqs / n - 1e-9) if seqs > 0.0 else 0.0
    ctx_share = own_seqs / seqs if seqs > 0.0 else 0.0
    own = prefill_tokens / n + own_seqs * queries
    total = attention_proj_time_s(cfg, own)
    total += attention_core_time_s(
        cfg, prefill_tokens / n, prefill_pairs / n, decode_ctx_tokens * ctx_share, queries
    )
    total += elementwise_time_s(cfg, own)
    hidden_bytes = cfg[c.HIDDEN] * cfg[c.A_BYTES]
    if moe_layer:
        total += moe_time_s(cfg, t)
        total += 2.0 * alltoall_time_s(cfg, own * cfg[c.EXPERTS_PER_TOKEN] * hidden_bytes)
    else:
        total += dense_mlp_time_s(cfg, t, cfg[c.INTERMEDIATE])
        total += allreduce_time_s(cfg, t * hidden_bytes)
    return total


@kernel
def layer_time_s(cfg, t, prefill_tokens, prefill_pairs, decode_ctx_tokens, moe_layer, queries):
    """One transformer layer on one GPU for ``t`` tokens (prefill chunks plus decodes, each
    decode with ``queries`` query tokens)."""
    if t <= 0.0:
        return 0.0
    if cfg[c.ATT_DP] > 0.0 and cfg[c.TP] > 1.0:
        return dp_layer_time_s(
            cfg, t, prefill_tokens, prefill_pairs, decode_ctx_tokens, moe_layer, queries
        )
    total = attention_proj_time_s(cfg, t)
    total += attention_core_time_s(cfg, prefill_tokens, prefill_pairs, decode_ctx_tokens, queries)
    if moe_layer:
        total += moe_time_s(cfg, t)
    else:
        total += dense_mlp_time_s(cfg, t, cfg[c.INTERMEDIATE])
    total += elementwise_time_s(cfg, t)
    # Two all-reduces per layer: after attention and after the MLP.
    total += 2.0 * allreduce_time_s(cfg, t * cfg[c.HIDDEN] * cfg[c.A_BYTES])
    return total


@kernel
def _mean_layer_time_s(cfg, t, p, pairs, ctx, q):
    """One layer, averaged over the dense and MoE layers in proportion."""
    if cfg[c.EXPERTS] > 0.0:
        frac_dense = min(cfg[c.DENSE_LAYERS], cfg[c.LAYERS]) / cfg[c.LAYERS]
        dense = layer_time_s(cfg, t, p, pairs, ctx, False, q)
        moe = layer_time_s(cfg, t, p, pairs, ctx, True, q)
        return frac_dense * dense + (1.0 - frac_dense) * moe
    return layer_time_s(cfg, t, p, pairs, ctx, False, q)


@kernel
def stage_layers_time_s(cfg, layers, t, prefill_tokens, prefill_pairs, decode_ctx_tokens, queries):
    """``layers`` consecutive layers, split between dense and MoE layers, and between
    full and windowed attention, in proportion.

    A windowed layer's decode reads at most ``window`` tokens per sequence and its
    prefill scores at most ``window`` keys per prompt token. The step's totals bound
    both: ``min(ctx, sequences * window)`` and ``min(pairs, prefill_tokens * window)``,
    exact when every context is past the window (or every one inside it).
    """
    p, pairs, ctx, q = prefill_tokens, prefill_pairs, decode_ctx_tokens, queries
    full = _mean_layer_time_s(cfg, t, p, pairs, ctx, q)
    swa = min(cfg[c.SWA_LAYERS], cfg[c.LAYERS]) / cfg[c.LAYERS]
    if swa <= 0.0:
        return layers * full
    w = cfg[c.SWA_WINDOW_TOKENS]
    seqs = (t - p) / q if q > 0.0 else 0.0
    windowed = _mean_layer_time_s(cfg, t, p, min(pairs, p * w), min(ctx, seqs * (w + 1.0)), q)
    return layers * ((1.0 - swa) * full + swa * windowed)


@kernel
def lm_head_time_s(cfg, rows):
    """The LM head (vocab-parallel, unquantized) for the rows that need logits."""
    if rows <= 0.0:
        return 0.0
    return (
        gemm_time_s(
            cfg,
            rows,
            cfg[c.HIDDEN],
            cfg[c.VOCAB] / cfg[c.TP],
            cfg[c.A_BYTES],
            cfg[c.PEAK_FP16_FLOP_PER_S],
            0.0,
            cfg[c.M_HALF_16_TOKENS],
        )
        + cfg[c.T0_ELEM_S]
    )


@kernel
def draft_time_s(cfg, seqs, ctx_tokens):
    """The drafter's GPU time in one iteration: k draft steps over ``seqs`` sequences
    (:mod:`simplan.kernels.speculative`); 0 without speculation or for n-gram lookup."""
    k = cfg[c.SPEC_TOKENS]
    kind = cfg[c.DRAFT_KIND]
    if k <= 0.0 or seqs <= 0.0 or kind == spec.DRAFT_NONE:
        return 0.0
    if kind == spec.DRAFT_MODEL:
        one = spec.draft_model_step_time_s(cfg, seqs, ctx_tokens)
    else:
        moe = kind == spec.DRAFT_HEAD_MOE and cfg[c.EXPERTS] > 0.0
        one = layer_time_s(cfg, seqs, 0.0, 0.0, ctx_tokens, moe, 1.0) + lm_head_time_s(cfg, seqs)
    return k * one


@kernel
def step_time_s(cfg, prefill_tokens, prefill_pairs, prefill_seqs, decode_seqs, decode_ctx_tokens):
    """Duration of one engine iteration of a replica.

    Parameters
    ----------
    cfg : float64[NCFG]
        Configuration vector (:mod:`simplan.kernels.layout`).
    prefill_tokens : float
        Prompt tokens processed this iteration (sum of prefill chunks).
    prefill_pairs : float
        Attention (query, key) pairs of those chunks: sum of chunk * (prefix + (chunk+1)/2).
    prefill_seqs : float
        Sequences whose prefill completes this iteration (they need logits).
    decode_seqs : float
        Sequences generating one token each.
    decode_ctx_tokens : float
        Sum of the decoding sequences' context lengths (KV tokens read).

    With speculative decoding each decoding sequence runs ``k + 1`` query tokens (the
    verify pass) and the drafter's ``k`` steps are added
    (:mod:`simplan.kernels.speculative`).

    Returns
    -------
    float
        Seconds between successive iterations of the same sequences. With pipeline
        parallelism the batch is split into ``m = min(pp, seqs)`` micro-batches that flow
        through ``pp`` stages, as vLLM's virtual engines do; in steady state a sequence's
        next token starts when its micro-batch has passed all ``pp`` stages, so the
        interval is ``pp`` stage times of ``1/m`` of the batch. With fewer sequences than
        stages (``m < pp``) stages idle for ``(pp - m) / pp`` of the time: the bubble.
    """
    q = spec.query_tokens(cfg)
    t = prefill_tokens + decode_seqs * q
    if t <= 0.0:
        return 0.0
    pp = cfg[c.PP]
    seqs = max(prefill_seqs + decode_seqs, 1.0)
    m = min(pp, seqs)
    layers_per_stage = math.ceil(cfg[c.LAYERS] / pp)
    stage = stage_layers_time_s(
        cfg,
        layers_per_stage,
        t / m,
        prefill_tokens / m,
        prefill_pairs / m,
        decode_ctx_tokens / m,
        q,
    )
    if pp > 1.0:
        stage += (
            cfg[c.P2P_ALPHA_S]
            + (t / m) * cfg[c.HIDDEN] * cfg[c.A_BYTES] / cfg[c.P2P_BW_BYTES_PER_S]
        )
    head = lm_head_time_s(cfg, prefill_seqs + decode_seqs * q)
    host = cfg[c.T_ITER_S] + (prefill_seqs + decode_seqs) * cfg[c.T_SEQ_S]
    return pp * stage + head + host + draft_time_s(cfg, decode_seqs, decode_ctx_tokens)


@kernel
def step_flops_and_bytes(
    cfg, prefill_tokens, prefill_pairs, prefill_seqs, decode_seqs, decode_ctx_tokens
):
    """Useful FLOPs and HBM bytes of one iteration summed over the replica's GPUs.

    For MFU/MBU: model FLOPs (2 x active params per token plus attention) and the
    bytes of weights and KV cache read, without efficiency factors. A verify pass counts
    its ``k + 1`` tokens per sequence, accepted or not; the drafter is not counted.
    """
    q = spec.query_tokens(cfg)
    t = prefill_tokens + decode_seqs * q
    if t <= 0.0:
        return 0.0, 0.0
    active, _, touched_total = _param_counts(cfg, t)
    flops = 2.0 * active * t
    if cfg[c.MLA] > 0.0:
        per_pair = cfg[c.HEADS] * (2.0 * (cfg[c.KV_LORA] + cfg[c.QK_ROPE]) + 2.0 * cfg[c.KV_LORA])
    else:
        per_pair = 4.0 * cfg[c.HEADS] * cfg[c.HEAD_DIM]
    flops += cfg[c.LAYERS] * per_pair * (prefill_pairs + q * decode_ctx_tokens)
    kv_token_bytes = kv_elems_per_token_per_layer(cfg) * cfg[c.KV_BYTES] * cfg[c.LAYERS]
    if cfg[c.MLA] <= 0.0 and cfg[c.ATT_DP] <= 0.0:
        kv_token_bytes *= cfg[c.TP]  # per-GPU heads x GPUs = whole model's KV
    nbytes = touched_total * cfg[c.W_BYTES] + (decode_ctx_tokens + prefill_tokens) * kv_token_bytes
    return flops, nbytes


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


@kernel
def _param_counts(cfg, t):
    """(active params per token, all layer params, params a batch of t tokens reads).

    Whole-model counts (not per GPU), for FLOP and byte accounting.
    """
    h = cfg[c.HIDDEN]
    attn = attention_params(cfg, cfg[c.HEADS], cfg[c.KV_HEADS])
    mats = 2.0 + cfg[c.GATED]
    dense_mlp = mats * h * cfg[c.INTERMEDIATE]
    lm = h * cfg[c.VOCAB]
    if cfg[c.EXPERTS] > 0.0:
        n_dense = min(cfg[c.DENSE_LAYERS], cfg[c.LAYERS])
        n_moe = cfg[c.LAYERS] - n_dense
        expert = mats * h * cfg[c.EXPERT_INTERMEDIATE]
        shared = cfg[c.SHARED_EXPERTS] * expert
        touched = moe_distinct_experts(cfg[c.EXPERTS], cfg[c.EXPERTS_PER_TOKEN], t)
        active = (
            n_dense * (attn + dense_mlp)
            + n_moe * (attn + shared + cfg[c.EXPERTS_PER_TOKEN] * expert)
            + lm
        )
        layer_total = n_dense * (attn + dense_mlp) + n_moe * (
            attn + shared + cfg[c.EXPERTS] * expert
        )
        read = n_dense * (attn + dense_mlp) + n_moe * (attn + shared + touched * expert)
        return active, layer_total, read
    per_layer = attn + dense_mlp
    return cfg[c.LAYERS] * per_layer + lm, cfg[c.LAYERS] * per_layer, cfg[c.LAYERS] * per_layer


@kernel
def step_time_many(cfgs, prefill_tokens, prefill_pairs, prefill_seqs, decode_seqs, decode_ctx):
    """:func:`step_time_s` over rows: ``cfgs`` is (n, NCFG), the rest are length-n arrays."""
    n = cfgs.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = step_time_s(
            cfgs[i],
            prefill_tokens[i],
            prefill_pairs[i],
            prefill_seqs[i],
            decode_seqs[i],
            decode_ctx[i],
        )
    return out
