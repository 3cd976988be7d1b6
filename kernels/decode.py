"""Runs of decode-only iterations, planned in one compiled call.

Between events (an arrival, a completion, a preemption) a continuous-batching engine
repeats decode iterations over a fixed set of sequences; only their contexts grow. The
simulator asks :func:`decode_plan` for the duration of each of those iterations at once
instead of stepping token by token in Python.
"""

from __future__ import annotations

import numpy as np
from simplan.kernels._jit import kernel
from simplan.kernels.roofline import step_flops_and_bytes, step_time_s


@kernel
def decode_plan(cfg, kv_tokens, blocks, decode_left, free_blocks, block, step_cap, out_end_s):
    """Plan up to ``step_cap`` decode iterations of a fixed batch.

    Parameters
    ----------
    cfg : float64[NCFG]
    kv_tokens : int64[n]
        Tokens each sequence has in the KV cache now.
    blocks : int64[n]
        KV blocks each sequence holds now (may exceed what its tokens use).
    decode_left : int64[n]
        Decode iterations each sequence still needs (>= 1).
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
