"""What a prompt adds to the iterations that carry it, alone or riding with others.

Helpers of the fast latency model (:mod:`simplan.kernels.tail`): a prompt's cost ``P`` is
the seconds its chunks add beside ``B`` decodes, from the same step time the simulation
charges (:func:`~simplan.kernels.roofline.step_time_s`).
"""

from __future__ import annotations

import math

from simplan.kernels import layout as c
from simplan.kernels._jit import kernel
from simplan.kernels.memory import reused_prompt_tokens
from simplan.kernels.roofline import step_time_s
from simplan.kernels.speculative import query_tokens


@kernel
def prompt_budget(cfg, bb):
    """Prompt tokens one iteration beside ``bb`` decodes can carry: each decode takes its
    verify tokens (k + 1 with speculation) from ``max_num_batched_tokens`` first."""
    return max(cfg[c.MAX_BATCHED_TOKENS] - bb * query_tokens(cfg), 1.0)


@kernel
def full_chunk_cost(cfg, bb, ctx, tau0):
    """Most seconds prompt work can add to one iteration: a whole :func:`prompt_budget`
    of tokens, attending to one another."""
    budget = prompt_budget(cfg, bb)
    return max(step_time_s(cfg, budget, budget * budget / 2.0, 1.0, bb, ctx) - tau0, 0.0)


@kernel
def prompt_costs(cfg, i_pts, bb, ctx, tau0, share, out):
    """Extra seconds each prompt adds to the iterations that carry it (all its chunks),
    times ``share`` (:func:`batching_share`)."""
    budget = prompt_budget(cfg, bb)
    for j in range(i_pts.shape[0]):
        ln = i_pts[j]
        hit = reused_prompt_tokens(cfg, ln)  # a cached prefix is not prefilled
        new = ln - hit
        chunks = max(1.0, math.ceil(new / budget))
        chunk = new / chunks
        pairs = chunk * (hit + new / 2.0 + 0.5)
        out[j] = share * chunks * (step_time_s(cfg, chunk, pairs, 1.0, bb, ctx) - tau0)


@kernel
def batching_share(cfg, i_pts, per_iteration, bb, ctx, tau0):
    """What each prompt adds, as a share of a lone prompt's cost, when ``per_iteration``
    prompts of the mean length ride in one iteration (as many as the budget holds).

    Prompts that arrive during one iteration share the next: at hundreds of requests per
    second several ride together, and an iteration's time is not additive in its prompts
    (fixed costs and the weight read are paid once), so charging each a lone prompt's
    cost over-states the prompts' share of the GPU and with it every iteration.
    """
    k = i_pts.shape[0]
    new = 0.0
    pairs = 0.0
    for j in range(k):
        hit = reused_prompt_tokens(cfg, i_pts[j])
        n = i_pts[j] - hit
        new += n / k
        pairs += n * (hit + n / 2.0 + 0.5) / k
    m = min(per_iteration, prompt_budget(cfg, bb) / max(new, 1.0))
    if m <= 1.0:
        return 1.0
    one = step_time_s(cfg, new, pairs, 1.0, bb, ctx) - tau0
    many = step_time_s(cfg, m * new, m * pairs, m, bb, ctx) - tau0
    return min(many / (m * one), 1.0) if one > 0.0 else 1.0
