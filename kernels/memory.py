"""Memory model of one replica: weights, KV cache and the largest batch that fits.

Per GPU of a replica with tensor-parallel degree ``tp`` and ``pp`` pipeline stages:

* weights: the linear layers of the stage's layers at the scheme's bytes per weight,
  plus the vocab-parallel embedding and LM head kept in 16-bit (engines do not quantize
  them);
* reserve: a fixed amount (CUDA context, CUDA graphs, NCCL buffers) plus the activation
  peak of a forward pass over ``max_num_batched_tokens`` tokens (what vLLM profiles
  before sizing its cache);
* KV cache: everything else inside ``gpu_memory_utilization`` of device memory, in
  whole blocks of ``block_size`` tokens.

With speculative decoding the drafter's weights and its KV cache per token are added
(:mod:`simplan.kernels.speculative`).
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels._jit import kernel
from simplan.kernels.ops import (
    attention_params,
    attention_tp,
    dense_tp,
    indexer_bytes_per_token_per_layer,
    kv_elems_per_token_per_layer,
    kv_heads_per_gpu,
)
from simplan.kernels.speculative import draft_kv_bytes_per_token, draft_weight_bytes_per_gpu


@kernel
def layer_params_per_gpu(cfg):
    """Linear-layer parameters of one pipeline stage held by one GPU (average stage)."""
    tp = cfg[c.TP]
    h = cfg[c.HIDDEN]
    # attention weights are split over TP, or replicated with data-parallel attention
    attn = attention_params(cfg, cfg[c.HEADS] / attention_tp(cfg), kv_heads_per_gpu(cfg))
    mats = 2.0 + cfg[c.GATED]
    # dense MLPs and shared experts split like the vocab tables (whole on every GPU under
    # TensorRT-LLM's and vLLM's data-parallel attention); routed experts over all tp GPUs
    dtp = dense_tp(cfg)
    dense_mlp = mats * h * cfg[c.INTERMEDIATE] / dtp
    layers = math.ceil(cfg[c.LAYERS] / cfg[c.PP])
    if cfg[c.EXPERTS] > 0.0:
        expert = mats * h * cfg[c.EXPERT_INTERMEDIATE]
        moe = (
            cfg[c.EXPERTS] * expert / tp + cfg[c.SHARED_EXPERTS] * expert / dtp + h * cfg[c.EXPERTS]
        )
        frac_dense = min(cfg[c.DENSE_LAYERS], cfg[c.LAYERS]) / cfg[c.LAYERS]
        per_layer = attn + frac_dense * dense_mlp + (1.0 - frac_dense) * moe
    else:
        per_layer = attn + dense_mlp
    return layers * per_layer


@kernel
def weight_bytes_per_gpu(cfg):
    """Bytes of weights on the most loaded GPU of the replica."""
    linear = layer_params_per_gpu(cfg) * cfg[c.W_BYTES]
    table = cfg[c.VOCAB] * cfg[c.HIDDEN] / dense_tp(cfg) * cfg[c.A_BYTES]
    if cfg[c.PP] > 1.0:
        # embedding on the first stage, LM head on the last: one table per GPU at most
        tables = table
    else:
        tables = table if cfg[c.TIE] > 0.0 else 2.0 * table
    return linear + tables + draft_weight_bytes_per_gpu(cfg)


@kernel
def kv_bytes_per_token(cfg):
    """KV-cache bytes one token occupies on one GPU (its stage's layers, and the
    drafter's cache when speculating)."""
    layers = math.ceil(cfg[c.LAYERS] / cfg[c.PP])
    own = layers * kv_elems_per_token_per_layer(cfg) * cfg[c.KV_BYTES]
    own += layers * indexer_bytes_per_token_per_layer(cfg)  # sparse attention's keys
    return own + draft_kv_bytes_per_token(cfg)


@kernel
def activation_reserve_bytes(cfg):
    """Peak activation memory of one forward pass at ``max_num_batched_tokens`` on one GPU.

    The live tensors of the widest op: the residual stream and normed input (2H) and the
    QKV output, plus the wider of the dense MLP's gate/up output and activation and the
    MoE layer's working set; plus fp32 logits for up to ``max_num_seqs`` rows of the
    vocab shard. A fused MoE holds, for every (token, routed expert) row, the gate/up
    output, its activation and the down projection's output before the weighted sum
    (vLLM's and SGLang's fused_moe: ``intermediate_cache1..3``, (M, top-k, 2I), (M·top-k,
    I) and (M, top-k, H)), with the expert's width on this GPU (whole under expert
    parallelism); under data-parallel attention its M is every rank's tokens (TensorRT-
    LLM: "the maximum number of tokens in MoE are multiplied by DP size when attention DP
    is enabled"), unless the engine chunks it (``MOE_MAX_TOKENS``). The shared experts
    run as a dense MLP on the GPU's own tokens, split as the weights are (``dense_tp``).
    """
    t = cfg[c.MAX_BATCHED_TOKENS]
    tp = cfg[c.TP]
    heads = cfg[c.HEADS] / attention_tp(cfg)
    if cfg[c.MLA] > 0.0:
        qkv = heads * (cfg[c.QK_NOPE] + cfg[c.QK_ROPE]) + cfg[c.KV_LORA] + cfg[c.QK_ROPE]
    else:
        qkv = (heads + 2.0 * kv_heads_per_gpu(cfg)) * cfg[c.HEAD_DIM]
    dtp = dense_tp(cfg)
    mlp_bytes = t * (2.0 + cfg[c.GATED]) * cfg[c.INTERMEDIATE] / dtp
    if cfg[c.EXPERTS] > 0.0:
        ep = cfg[c.ATT_DP] > 0.0
        width = cfg[c.EXPERT_INTERMEDIATE] if ep else cfg[c.EXPERT_INTERMEDIATE] / tp
        rows = t * tp if ep else t
        if cfg[c.MOE_MAX_TOKENS] > 0.0:
            rows = min(rows, cfg[c.MOE_MAX_TOKENS])
        routed = cfg[c.EXPERTS_PER_TOKEN] * ((2.0 + cfg[c.GATED]) * width + cfg[c.HIDDEN])
        shared = cfg[c.SHARED_EXPERTS] * (2.0 + cfg[c.GATED]) * cfg[c.EXPERT_INTERMEDIATE] / dtp
        mlp_bytes = max(mlp_bytes, rows * routed + t * shared)
    logits = min(cfg[c.MAX_NUM_SEQS], t) * cfg[c.VOCAB] / dtp * 4.0
    return (t * (2.0 * cfg[c.HIDDEN] + qkv) + mlp_bytes) * cfg[c.A_BYTES] + logits


@kernel
def kv_capacity_tokens(cfg):
    """Tokens the replica's KV cache holds (whole blocks); 0 or less when nothing fits."""
    budget = cfg[c.MEM_BYTES] * cfg[c.MEM_UTIL]
    free = (
        budget
        - weight_bytes_per_gpu(cfg)
        - activation_reserve_bytes(cfg)
        - cfg[c.RESERVE_FIXED_BYTES]
    )
    if free <= 0.0:
        return 0.0
    tokens = math.floor(free / kv_bytes_per_token(cfg))
    if cfg[c.ATT_DP] > 0.0:
        # each GPU keeps the whole KV of its own requests: n pools of that many tokens
        tokens *= cfg[c.TP]
    return math.floor(tokens / cfg[c.BLOCK_TOKENS]) * cfg[c.BLOCK_TOKENS]


@kernel
def reused_prompt_tokens(cfg, prompt_tokens):
    """Prompt tokens a request reuses from the prefix cache: the shared prefix's
    (``PREFIX_HIT_TOKENS``) and a share of the rest (``PREFIX_HIT_SHARE``: a session's
    conversation so far); the last token is always computed."""
    shared = min(cfg[c.PREFIX_HIT_TOKENS], prompt_tokens)
    hit = shared + cfg[c.PREFIX_HIT_SHARE] * (prompt_tokens - shared)
    return max(min(hit, prompt_tokens - 1.0), 0.0)


@kernel
def blocks_for_tokens(tokens, block):
    return math.ceil(tokens / block)


@kernel
def kv_units(cfg, tokens):
    """The KV a sequence of ``tokens`` tokens holds, in tokens of every layer.

    Windowed layers (``SWA_LAYERS``) keep only the last ``SWA_WINDOW_TOKENS`` tokens, as
    vLLM's hybrid KV manager, TensorRT-LLM's cyclic cache and SGLang's SWA pool do, so a
    long sequence holds ``(1 - s) * tokens + s * window`` for the windowed share ``s``.
    Capacity (:func:`kv_capacity_tokens`) is counted in the same units.
    """
    swa = min(cfg[c.SWA_LAYERS], cfg[c.LAYERS]) / cfg[c.LAYERS]
    if swa <= 0.0:
        return tokens
    return (1.0 - swa) * tokens + swa * min(tokens, cfg[c.SWA_WINDOW_TOKENS])


@kernel
def kv_blocks_held(cfg, tokens, block):
    """Blocks a sequence of ``tokens`` tokens holds (:func:`kv_units`, whole blocks)."""
    return math.ceil(kv_units(cfg, tokens) / block - 1e-9)


@kernel
def max_batch(cfg, input_tokens, output_tokens):
    """Largest number of sequences of the given lengths whose KV fits at once.

    With cached shared prefixes, each held once, a sequence holds only its own part. The
    engine evicts cached prefixes nobody uses when it needs their blocks, so caching never
    fits fewer sequences than holding every prompt whole would.
    """
    block = cfg[c.BLOCK_TOKENS]
    total = math.floor(kv_capacity_tokens(cfg) / block)
    whole = kv_blocks_held(cfg, input_tokens + output_tokens, block)
    if whole <= 0:
        return 0.0
    plain = float(math.floor(total / whole))
    pool = blocks_for_tokens(cfg[c.PREFIX_POOL_TOKENS], block)
    hit = reused_prompt_tokens(cfg, input_tokens)
    own = kv_blocks_held(cfg, input_tokens + output_tokens - hit, block)
    if pool <= 0 or own <= 0:
        return plain
    return max(plain, float(math.floor((total - pool) / own)))


@kernel
def memory_many(cfgs, input_tokens, output_tokens):
    """Memory figures for many configurations.

    Returns an (n, 5) array: weight bytes per GPU, KV bytes per token per GPU,
    reserve bytes per GPU (activations + fixed), KV capacity in tokens, max batch.
    """
    n = cfgs.shape[0]
    out = np.empty((n, 5))
    for i in range(n):
        cfg = cfgs[i]
        out[i, 0] = weight_bytes_per_gpu(cfg)
        out[i, 1] = kv_bytes_per_token(cfg)
        out[i, 2] = activation_reserve_bytes(cfg) + cfg[c.RESERVE_FIXED_BYTES]
        out[i, 3] = kv_capacity_tokens(cfg)
        out[i, 4] = max_batch(cfg, input_tokens[i], output_tokens[i])
    return out
