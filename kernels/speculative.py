"""Speculative decoding: how many tokens an iteration yields, and what drafting costs.

Each iteration a drafter proposes ``k`` tokens per decoding sequence and the target model
verifies them in one forward pass over ``k + 1`` query tokens per sequence (the ``k``
drafts and the token after the last accepted one). With every drafted token accepted
with probability ``a`` given that its parent was (Leviathan et al., "Fast Inference from
Transformers via Speculative Decoding", ICML 2023, arXiv:2211.17192, eq. 1), the tokens
an iteration yields per sequence are

    E[tokens] = 1 + a + a^2 + ... + a^k = (1 - a^(k + 1)) / (1 - a)

(``k + 1`` when ``a = 1``): the verify step always yields one token of its own.

The drafter's cost per iteration is ``k`` sequential draft steps over the batch:

* EAGLE heads and MTP modules (kinds 1, 2) are one decoder layer shaped like the
  target's (dense, or an MoE layer for DeepSeek's MTP) that reuses the target's LM head:
  a draft step costs one target layer plus the LM head (:mod:`roofline`);
* a separate draft model (kind 3) costs a whole small-model decode step, from the
  roofline of its weights and KV cache (:func:`draft_model_step_time_s`);
* n-gram lookup (kind 0) runs on the host and costs no GPU time.

The verify pass makes the target's GEMMs ``k + 1`` times taller: free while decode is
memory-bound (small batches), full price once it is compute-bound, which is why the
gain shrinks as the batch grows.
"""

from __future__ import annotations

from simplan.kernels import layout as c
from simplan.kernels._jit import kernel
from simplan.kernels.ops import allreduce_latency_s

#: Drafter kinds (the ``DRAFT_KIND`` slot).
DRAFT_NONE, DRAFT_HEAD_DENSE, DRAFT_HEAD_MOE, DRAFT_MODEL = 0, 1, 2, 3


@kernel
def expected_tokens_per_step(k, a):
    """Tokens one verify step yields per sequence: (1 - a^(k+1)) / (1 - a)."""
    if k <= 0.0:
        return 1.0
    if a >= 1.0:
        return k + 1.0
    return (1.0 - a ** (k + 1.0)) / (1.0 - a)


@kernel
def tokens_per_step(cfg):
    """Mean tokens each decoding sequence gains per iteration (1 without speculation)."""
    return expected_tokens_per_step(cfg[c.SPEC_TOKENS], cfg[c.SPEC_ACCEPT])


@kernel
def decode_iterations(cfg, output_tokens):
    """Decode iterations a request needs for its ``output_tokens - 1`` tokens after the first.

    Tokens arrive whole: a sequence banks ``E`` (:func:`tokens_per_step`) a step and
    finishes in the first iteration where the bank reaches what is left, so it needs
    ``ceil((O - 1) / E)`` iterations, at least one. Over answers of many lengths the
    rounding adds ``(1 - 1/E) / 2`` iterations on average (the fractional part of
    ``(O - 1) / E`` spread evenly over the ``E`` residues), which matters for short answers
    with long drafts. Without speculation it is ``O - 1``.
    """
    left = output_tokens - 1.0
    per_step = tokens_per_step(cfg)
    if per_step <= 1.0 or left <= 0.0:
        return max(left, 0.0)
    return max(left / per_step + 0.5 * (1.0 - 1.0 / per_step), 1.0)


@kernel
def iterations_per_request(cfg, output_tokens):
    """Iterations a request of ``output_tokens`` spends in the batch: its last prefill
    iteration (which yields the first token) and :func:`decode_iterations` for the rest."""
    return 1.0 + decode_iterations(cfg, output_tokens)


@kernel
def query_tokens(cfg):
    """Tokens the target model runs per decoding sequence and iteration (k + 1)."""
    return 1.0 + cfg[c.SPEC_TOKENS]


@kernel
def draft_model_step_time_s(cfg, seqs, ctx_tokens):
    """One decode step of a separate draft model for ``seqs`` sequences on one GPU.

    A roofline over the whole small model: its weights (at ``DRAFT_W_BYTES``) and KV
    cache are read once, its FLOPs are 2 per parameter per sequence at the 16-bit GEMM
    efficiency of that many rows, plus the fixed cost of its kernels (four GEMMs, one
    attention and six element-wise kernels per layer) and, under TP, two all-reduce
    latencies per layer.
    """
    if seqs <= 0.0:
        return 0.0
    params = cfg[c.DRAFT_PARAMS_PER_GPU]
    eta = cfg[c.ETA_C] * seqs / (seqs + cfg[c.M_HALF_16_TOKENS])
    t_compute = 2.0 * params * seqs / (cfg[c.PEAK_FP16_FLOP_PER_S] * eta)
    nbytes = (
        params * cfg[c.DRAFT_W_BYTES] + ctx_tokens * cfg[c.DRAFT_KV_ELEMS_PER_GPU] * cfg[c.KV_BYTES]
    )
    t_memory = nbytes / (cfg[c.BW_BYTES_PER_S] * cfg[c.ETA_M])
    layers = cfg[c.DRAFT_LAYERS]
    fixed = layers * (4.0 * cfg[c.T0_GEMM_S] + cfg[c.T0_ATT_S] + 6.0 * cfg[c.T0_ELEM_S])
    if cfg[c.TP] > 1.0:
        fixed += 2.0 * layers * allreduce_latency_s(cfg)
    return max(t_compute, t_memory) + fixed


@kernel
def draft_weight_bytes_per_gpu(cfg):
    """Bytes the drafter's own weights take on each GPU (0 without speculation)."""
    if cfg[c.SPEC_TOKENS] <= 0.0:
        return 0.0
    return cfg[c.DRAFT_PARAMS_PER_GPU] * cfg[c.DRAFT_W_BYTES]


@kernel
def draft_kv_bytes_per_token(cfg):
    """KV-cache bytes the drafter adds per token on each GPU (0 without speculation)."""
    if cfg[c.SPEC_TOKENS] <= 0.0:
        return 0.0
    return cfg[c.DRAFT_KV_ELEMS_PER_GPU] * cfg[c.KV_BYTES]
