"""Static-batch benchmark: B requests prefilled together, then decoded together.

This is the measurement most engine benchmarks publish (TensorRT-LLM's
gptSessionBenchmark, LMDeploy's static inference benchmark) and the contract
``simplan estimate`` exposes.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels._jit import kernel
from simplan.kernels.memory import reused_prompt_tokens
from simplan.kernels.roofline import step_time_s
from simplan.kernels.speculative import tokens_per_step


@kernel
def static_batch(cfg, batch, input_tokens, output_tokens):
    """Return (ttft_s, tpot_s, e2e_s) for a static batch.

    The prefill of all ``batch * input_tokens`` prompt tokens is one iteration and yields
    each request's first token; the remaining ``output_tokens - 1`` tokens are decode
    iterations over the whole batch with contexts growing by one each step. With prefix
    caching the cached prefix (``PREFIX_HIT_TOKENS``) is not prefilled; with speculative
    decoding an iteration yields :func:`~simplan.kernels.speculative.tokens_per_step`
    tokens, so ``ceil((output_tokens - 1) / E)`` iterations produce them.
    """
    b = float(batch)
    i_len = float(input_tokens)
    hit = reused_prompt_tokens(cfg, i_len)
    new = i_len - hit
    pairs = b * new * (hit + (new + 1.0) / 2.0)
    ttft = step_time_s(cfg, b * new, pairs, b, 0.0, 0.0)
    per_step = tokens_per_step(cfg)
    tokens = int(output_tokens) - 1
    steps = math.ceil(tokens / per_step) if tokens > 0 else 0
    decode = 0.0
    for j in range(steps):
        decode += step_time_s(cfg, 0.0, 0.0, 0.0, b, b * (i_len + 1.0 + j * per_step))
    tpot = decode / tokens if tokens > 0 else 0.0
    return ttft, tpot, ttft + decode


@kernel
def static_batch_many(cfgs, batch, input_tokens, output_tokens):
    """:func:`static_batch` over rows; returns an (n, 3) array of ttft, tpot, e2e seconds."""
    n = cfgs.shape[0]
    out = np.empty((n, 3))
    for i in range(n):
        ttft, tpot, e2e = static_batch(cfgs[i], batch[i], input_tokens[i], output_tokens[i])
        out[i, 0] = ttft
        out[i, 1] = tpot
        out[i, 2] = e2e
    return out
