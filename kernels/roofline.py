"""Per-iteration time of one replica: the op groups of :mod:`simplan.kernels.ops` added up.

Ops run one after another, so a layer is the sum of its ops (tensor-parallel, or with
data-parallel attention and expert-parallel MoE), a pipeline stage the mix of its dense,
MoE, full-attention and windowed layers, and an iteration the stages plus the LM head,
the drafter and a fixed per-iteration overhead (scheduling, sampling, launches) that
dominates small batches. Also the useful FLOPs and bytes of an iteration (MFU/MBU).

All functions take the configuration vector described in :mod:`simplan.kernels.layout`.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels import speculative as spec
from simplan.kernels._jit import kernel
from simplan.kernels.ops import (
    allreduce_time_s,
    alltoall_time_s,
    attention_core_time_s,
    attention_params,
    attention_proj_time_s,
    dense_mlp_time_s,
    dense_tp,
    elementwise_time_s,
    gemm_time_s,
    indexer_bytes_per_token_per_layer,
    indexer_time_s,
    kv_elems_per_token_per_layer,
    moe_distinct_experts,
    moe_time_s,
)


@kernel
def _busiest_share(n, seqs):
    """(decoding sequences on the busiest of n data-parallel GPUs, their share of all):
    whole sequences spread as evenly as they can, ceil(seqs / n)."""
    if seqs <= 0.0:
        return 0.0, 0.0
    own_seqs = math.ceil(seqs / n - 1e-9)
    return own_seqs, own_seqs / seqs


@kernel
def dp_layer_time_s(cfg, t, prefill_tokens, prefill_pairs, decode_ctx_tokens, moe_layer, queries):
    """One layer with data-parallel attention over the n = TP GPUs (``ATT_DP``).

    Each GPU runs every attention head for its own 1/n of the requests (weights
    replicated, no all-reduce after attention). MoE layers are expert-parallel: the GPUs
    hold E/n whole experts, which costs the same FLOPs and expert bytes per GPU as TP
    sharding, and each token's hidden state is sent to its k experts and back (dispatch
    and combine all-to-alls) instead of two all-reduces. Dense MLPs and shared experts
    are either whole on each GPU for its own tokens, with no collective (TensorRT-LLM,
    vLLM), or TP-sharded over all tokens, gathered and scattered at one all-reduce's
    traffic (SGLang): :func:`~simplan.kernels.ops.dense_tp`. The step waits for the
    busiest GPU: decoding sequences spread as evenly as whole sequences can (ceil(seqs /
    n) on the busiest, so a batch smaller than n leaves GPUs idle); prefill tokens are
    assumed spread evenly (optimistic for long prompts, which an engine prefills on one
    rank: docs/model.md).
    """
    n = cfg[c.TP]
    seqs = (t - prefill_tokens) / queries if queries > 0.0 else 0.0
    own_seqs, ctx_share = _busiest_share(n, seqs)
    own = prefill_tokens / n + own_seqs * queries
    total = attention_proj_time_s(cfg, own)
    total += attention_core_time_s(
        cfg, prefill_tokens / n, prefill_pairs / n, decode_ctx_tokens * ctx_share, queries
    )
    total += elementwise_time_s(cfg, own)
    hidden_bytes = cfg[c.HIDDEN] * cfg[c.A_BYTES]
    # dense MLPs and shared experts: whole on each GPU for its own tokens, or split over
    # the group for all of them (gathered and scattered: one all-reduce's traffic)
    whole = dense_tp(cfg) < cfg[c.TP]
    mlp_tokens = own if whole else t
    if moe_layer:
        total += moe_time_s(cfg, t, mlp_tokens)
        total += 2.0 * alltoall_time_s(cfg, own * cfg[c.EXPERTS_PER_TOKEN] * hidden_bytes)
    else:
        total += dense_mlp_time_s(cfg, mlp_tokens, cfg[c.INTERMEDIATE])
        if not whole:
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
        total += moe_time_s(cfg, t, t)
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
def _own_indexer_time_s(cfg, p, pairs, ctx, q, seqs):
    """The indexer on the busiest GPU: all of the step's work under tensor parallelism,
    its own requests' share with data-parallel attention (as ``dp_layer_time_s``)."""
    if cfg[c.ATT_DP] > 0.0 and cfg[c.TP] > 1.0:
        n = cfg[c.TP]
        share = _busiest_share(n, seqs)[1]
        return indexer_time_s(cfg, p / n, pairs / n, ctx * share, q)
    return indexer_time_s(cfg, p, pairs, ctx, q)


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
    seqs = (t - p) / q if q > 0.0 else 0.0
    k = cfg[c.DSA_TOPK_TOKENS]
    if k > 0.0:
        # sparse attention: each query attends to its top k keys, which the indexer picks
        # by scoring them all
        full = _mean_layer_time_s(cfg, t, p, min(pairs, p * k), min(ctx, seqs * k), q)
        full += _own_indexer_time_s(cfg, p, pairs, ctx, q, seqs)
    else:
        full = _mean_layer_time_s(cfg, t, p, pairs, ctx, q)
    swa = min(cfg[c.SWA_LAYERS], cfg[c.LAYERS]) / cfg[c.LAYERS]
    if swa <= 0.0:
        return layers * full
    w = cfg[c.SWA_WINDOW_TOKENS]
    windowed = _mean_layer_time_s(cfg, t, p, min(pairs, p * w), min(ctx, seqs * (w + 1.0)), q)
    return layers * ((1.0 - swa) * full + swa * windowed)


@kernel
def lm_head_time_s(cfg, rows):
    """The LM head (vocab-parallel, unquantized) for the rows that need logits; kept
    whole under data-parallel attention (:func:`dense_tp`), a GPU computes its own rows
    (the busiest GPU's ``ceil(rows / n)``)."""
    if rows <= 0.0:
        return 0.0
    tp = dense_tp(cfg)
    if tp < cfg[c.TP]:
        rows = _busiest_share(cfg[c.TP], rows)[0]
    return (
        gemm_time_s(
            cfg,
            rows,
            cfg[c.HIDDEN],
            cfg[c.VOCAB] / tp,
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
    its ``k + 1`` tokens per sequence, accepted or not; the drafter is not counted. Sparse
    attention counts its top-k pairs and KV reads and the indexer's scan (once, however
    many TP ranks repeat it).
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
    pairs, ctx = prefill_pairs, decode_ctx_tokens
    index_flops, index_bytes = 0.0, 0.0
    k = cfg[c.DSA_TOPK_TOKENS]
    if k > 0.0:
        # sparse attention: the top-k pairs and KV reads, plus the indexer's scan of all
        pairs = min(prefill_pairs, prefill_tokens * k)
        ctx = min(decode_ctx_tokens, decode_seqs * k)
        scanned = prefill_pairs + q * decode_ctx_tokens
        index_flops = 2.0 * cfg[c.INDEXER_HEADS] * cfg[c.INDEXER_HEAD_DIM] * scanned
        index_bytes = (decode_ctx_tokens + prefill_tokens) * indexer_bytes_per_token_per_layer(cfg)
    flops += cfg[c.LAYERS] * (per_pair * (pairs + q * ctx) + index_flops)
    kv_token_bytes = kv_elems_per_token_per_layer(cfg) * cfg[c.KV_BYTES] * cfg[c.LAYERS]
    if cfg[c.MLA] <= 0.0 and cfg[c.ATT_DP] <= 0.0:
        kv_token_bytes *= cfg[c.TP]  # per-GPU heads x GPUs = whole model's KV
    nbytes = touched_total * cfg[c.W_BYTES] + (ctx + prefill_tokens) * kv_token_bytes
    nbytes += cfg[c.LAYERS] * index_bytes
    return flops, nbytes


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
