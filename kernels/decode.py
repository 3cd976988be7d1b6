"""Runs of decode-only iterations, planned in one compiled call.

Between events (an arrival, a completion, a preemption) a continuous-batching engine
repeats decode iterations over a fixed set of sequences; only their contexts grow. The
simulator asks :func:`decode_plan` for the duration of each of those iterations at once
instead of stepping token by token in Python.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels._jit import kernel
from simplan.kernels.memory import kv_blocks_held
from simplan.kernels.roofline import step_flops_and_bytes, step_time_s
from simplan.kernels.speculative import tokens_per_step


@kernel
def produced_tokens(carry, steps, per_step, left):
    """Tokens a sequence gains over ``steps`` iterations of ``per_step`` tokens on
    average, starting from the fraction ``carry``: ``floor(carry + steps * per_step)``,
    at most ``left``. Without speculation (``per_step = 1``, ``carry = 0``) it is
    ``steps``."""
    return min(math.floor(carry + steps * per_step), left)


@kernel
def _plan_one_token(cfg, kv_tokens, blocks, decode_left, free_blocks, block, step_cap, out_end_s):
    """:func:`decode_plan` without speculation: one token per sequence and iteration
    (the common case, with no per-step rounding to do)."""
    n = kv_tokens.shape[0]
    limit = step_cap
    ctx = 0.0
    for i in range(n):
        ctx += kv_tokens[i]
        if decode_left[i] < limit:
            limit = decode_left[i]
    nf = float(n)
    room = np.empty(n, dtype=np.int64)  # tokens each sequence can still add without a block
    for i in range(n):
        room[i] = blocks[i] * block - kv_tokens[i]
    used = 0
    steps = 0
    t = 0.0
    flops = 0.0
    nbytes = 0.0
    for j in range(limit):
        need = 0
        for i in range(n):
            if room[i] <= j:
                need += 1
        if used + need > free_blocks:
            break
        for i in range(n):
            if room[i] <= j:
                room[i] += block
        used += need
        decode_ctx = ctx + nf * (j + 1.0)
        t += step_time_s(cfg, 0.0, 0.0, 0.0, nf, decode_ctx)
        f, b = step_flops_and_bytes(cfg, 0.0, 0.0, 0.0, nf, decode_ctx)
        flops += f
        nbytes += b
        out_end_s[j] = t
        steps += 1
    return steps, used, flops, nbytes


@kernel
def decode_plan(
    cfg, kv_tokens, blocks, decode_left, carry, free_blocks, block, step_cap, out_end_s
):
    """Plan up to ``step_cap`` decode iterations of a fixed batch.

    Parameters
    ----------
    cfg : float64[NCFG]
    kv_tokens : int64[n]
        Tokens each sequence has in the KV cache now.
    blocks : int64[n]
        KV blocks each sequence holds now (may exceed what its tokens use).
    decode_left : int64[n]
        Tokens each sequence still has to generate (>= 1).
    carry : float64[n]
        Fractional tokens each sequence has banked (speculative decoding yields
        :func:`~simplan.kernels.speculative.tokens_per_step` tokens per iteration on
        average; a sequence gains :func:`produced_tokens`); zeros without speculation.
    free_blocks : int
        Free KV blocks of the replica.
    block : int
        Tokens per KV block.
    step_cap : int
        Most iterations to plan (``out_end_s`` must hold that many).
    out_end_s : float64[>= step_cap]
        Filled with the cumulative end time of each planned iteration, from 0.

    Returns
    -------
    (steps, blocks_used, flops, bytes)
        ``steps`` stops at the first sequence's completion, at ``step_cap``, or where the
        next iteration would need more KV blocks than are free (0 means the very first
        iteration does not fit: the caller must preempt). ``blocks_used`` counts the new
        blocks those iterations allocate.
    """
    n = kv_tokens.shape[0]
    if n == 0:
        return 0, 0, 0.0, 0.0
    per_step = tokens_per_step(cfg)
    if per_step == 1.0 and cfg[c.SWA_LAYERS] <= 0.0:
        return _plan_one_token(
            cfg, kv_tokens, blocks, decode_left, free_blocks, block, step_cap, out_end_s
        )
    nf = float(n)
    held = blocks.copy()  # blocks each sequence holds after the planned iterations
    gained = np.zeros(n, dtype=np.int64)  # tokens each has gained before iteration j
    used = 0
    steps = 0
    t = 0.0
    flops = 0.0
    nbytes = 0.0
    for j in range(step_cap):
        need = 0
        finishing = False
        ctx = 0.0
        for i in range(n):
            after = produced_tokens(carry[i], j + 1.0, per_step, decode_left[i])
            want = kv_blocks_held(cfg, kv_tokens[i] + after, block)
            if want > held[i]:
                need += want - held[i]
            if after >= decode_left[i]:
                finishing = True
            ctx += kv_tokens[i] + gained[i]
        if used + need > free_blocks:
            break
        for i in range(n):
            after = produced_tokens(carry[i], j + 1.0, per_step, decode_left[i])
            held[i] = max(held[i], kv_blocks_held(cfg, kv_tokens[i] + after, block))
            gained[i] = after
        used += need
        decode_ctx = ctx + nf
        t += step_time_s(cfg, 0.0, 0.0, 0.0, nf, decode_ctx)
        f, b = step_flops_and_bytes(cfg, 0.0, 0.0, 0.0, nf, decode_ctx)
        flops += f
        nbytes += b
        out_end_s[j] = t
        steps += 1
        if finishing:
            break
    return steps, used, flops, nbytes
