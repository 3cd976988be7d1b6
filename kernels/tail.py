"""Latency distributions (mean and percentiles) of one replica at a steady arrival rate.

Continuous batching with chunked prefill, seen as queueing (symbols: ``P`` the seconds a
prompt adds to the iterations that carry it, beside ``B`` decodes; ``tau0(B)`` a
decode-only iteration; ``rho_p = rate * E[P]`` the prompts' share of the GPU;
``c_a`` the squared coefficient of variation of inter-arrival times):

* **Operating point.** Prompts arrive whole, so the mean iteration is
  ``tau = tau0(B) / (1 - rho_p)`` with ``B = rate * O * tau`` (Little): the fixed point of
  :func:`lumpy_operating_point`. (Spreading prompt tokens evenly over iterations, as the
  mean-field :mod:`~simplan.kernels.grid` does for capacity, hides them under the
  memory-bound decode step and under-states TPOT by 20% at low load.)
* **Prompt bursts (fast).** An iteration carries the prompts that arrived during the one
  before: ``T[n+1] = tau0 + sum of P over arrivals in T[n]``, a branching chain with
  lag-one correlation ``rho_p`` and length-biased mean ``tau + rate E[P^2] / (1 - rho_p^2)``.
  A request's decode life of ``O - 1`` iterations is a busy period started by its own
  decode work, so its TPOT has variance ``base * c_a * rate * E[W^2] / ((O - 1) (1 - u)^3)``
  (``W = P + slope * O`` the work an arrival brings, ``u`` the total load,
  ``tau0(B) = base + slope * B``).
* **Drift (slow).** Over a decode life the prompt share wanders with the arrival count
  (variance ``c_a * rate * E[P^2] / window``); ``B`` and the iteration time both scale as
  ``1 / (1 - u)``, so a request, weighted towards crowded stretches, sees a mean iteration
  ``(1 + d)`` times ``tau`` with ``d = (c_a rate E[P^2] / window) / (1 - u)^2`` (capped at
  1: beyond it the quasi-static picture fails).

Per request:

* TTFT = the rest of the iteration it arrives in (idle with probability ``exp(-B-rho_p)``,
  a prompt iteration with probability ``rho_p`` picked in proportion to ``P``, else a
  decode one) times ``1/2 + rho_p`` for the prompts of others that arrived meanwhile;
  plus the excess wait of clumped arrivals (Allen-Cunneen's ``(c_a - 1) / 2`` of the M/G/1
  wait of prompts behind prompts, at the prompts' load ``rho_p``), a wait for a batch
  slot when the batch is at its limit (Erlang C with ``B_limit`` servers) and its own
  prompt's iterations.
* TPOT = ``tau (1 + d)`` with the busy-period and drift variances above, plus the
  prompts that arrived while the request's own prompt ran: they queue behind it and ride
  in its first decode iterations (``rate * E[P]`` of them, at most a token budget per
  iteration), which dominates long prompts with short answers. Two laws of the same
  mean and variance: no prompt joined the decode life or queued behind it (decode-only
  iterations; probability ``exp(-rate * exposure)``, or
  ``ca2^(-rate * exposure / (ca2 - 1))`` for clumped arrivals) or some did.
* Prompts that arrive during one iteration share the next, and an iteration's time is
  not additive in its prompts (fixed costs and the weight read are paid once), so each
  is charged its share of ``rate * tau`` mean prompts riding together, not a lone
  prompt's cost (:func:`batching_share`): at hundreds of short prompts a second the
  lone cost over-stated the prompts' share of the GPU and TPOT by up to 40%.
* e2e = TTFT + ``(O - 1)`` TPOT.

With speculative decoding an iteration yields ``E`` tokens
(:mod:`simplan.kernels.speculative`): a request's ``O - 1`` decode tokens take
:func:`~simplan.kernels.speculative.decode_iterations` iterations (whole tokens, so half
an iteration's rounding on average), the iteration counts above (``B``, busy periods,
Erlang C) use those, and a token's time is its decode life over ``O - 1``.

Each conditional law is a gamma matched to its mean and variance (CDF by Wilson and
Hilferty's cube root); the distribution over requests is the mixture over equally likely
prompt and output lengths and landing states, and its percentiles are found by
bisection. Four constants (``var_scale`` on the busy-period variance, ``env_scale`` on
``d``, ``wait_scale`` on the clumped-arrival wait, ``ttft_env`` on ``d`` in TTFT) are
fitted once against the simulation over a designed set by ``tools/fit_tail.py``; its
held-out error is in ``simplan/catalog/tail.toml`` and ``docs/model.md``.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels._jit import kernel
from simplan.kernels.memory import max_batch
from simplan.kernels.mixture import coarsen, mixture_quantiles
from simplan.kernels.prompts import batching_share, full_chunk_cost, prompt_costs
from simplan.kernels.roofline import step_time_s
from simplan.kernels.speculative import (
    decode_iterations,
    iterations_per_request,
    tokens_per_step,
)

#: Percentiles reported, in the column order of :func:`latency_quantiles`.
PERCENTILES = (50.0, 90.0, 95.0, 99.0)
#: Columns per metric: the mean, then :data:`PERCENTILES`.
STATS = 1 + len(PERCENTILES)
#: Metrics in column order: TTFT, TPOT, e2e (each :data:`STATS` columns).
COLUMNS = 3 * STATS
_QS = np.array(PERCENTILES) / 100.0
# fixed-point rounds of the operating point
_ROUNDS = 60


@kernel
def erlang_c(servers, load):
    """Probability that an arrival waits in an M/M/c queue with ``load = rate / mu``."""
    c_srv = int(servers)
    if c_srv < 1 or load <= 0.0:
        return 0.0
    if load >= c_srv:
        return 1.0
    blocking = 1.0
    for k in range(1, c_srv + 1):
        blocking = load * blocking / (k + load * blocking)
    return c_srv * blocking / (c_srv - load * (1.0 - blocking))


@kernel
def _stats_into(out, col, means, variances, shifts, weights, n):
    total = 0.0
    for k in range(n):
        total += weights[k] * means[k]
    out[col] = total
    mixture_quantiles(_QS, means, variances, shifts, weights, n, out[col + 1 : col + STATS])


@kernel
def lumpy_operating_point(cfg, rate, i_pts, o_pts, b_start):
    """(batch, iteration_s, prompt_share) where prompts arrive whole, not spread out.

    A prompt costs what its own iterations cost beside ``B`` decodes (``P``), so the
    iteration time is ``tau0(B) / (1 - rate * E[P])`` and ``B = rate * O * tau``. Returns
    an infinite iteration time when prompts alone fill the replica or the batch exceeds
    its limit.
    """
    k = i_pts.shape[0]
    i_len = 0.0
    o_len = 0.0
    for j in range(k):
        i_len += i_pts[j] / k
        o_len += o_pts[j] / k
    b_lim = min(cfg[c.MAX_NUM_SEQS], max_batch(cfg, i_len, o_len))
    o_iters = iterations_per_request(cfg, o_len)
    cost = np.empty(k)
    b = max(b_start, 0.0)
    tau = math.inf
    rho_p = 1.0
    for _ in range(_ROUNDS):
        bb = max(b, 1.0)
        ctx = bb * (i_len + o_len / 2.0)
        tau0 = step_time_s(cfg, 0.0, 0.0, 0.0, bb, ctx)
        # the prompts that arrived during the last iteration share this one
        share = batching_share(
            cfg, i_pts, rate * (tau if math.isfinite(tau) else tau0), bb, ctx, tau0
        )
        prompt_costs(cfg, i_pts, bb, ctx, tau0, share, cost)
        rho_p = rate * np.mean(cost)
        if rho_p >= 1.0:
            return b_lim, math.inf, 1.0
        tau = tau0 / (1.0 - rho_p)
        b_new = rate * o_iters * tau
        if b_new > b_lim:
            return b_lim, math.inf, rho_p
        if abs(b_new - b) <= 1e-6 * max(b_new, 1.0):
            b = b_new
            break
        b = b + 0.7 * (b_new - b) if b_new > b else b_new
    return b, tau, rho_p


@kernel
def latency_quantiles(
    cfg, rate, i_pts, o_pts, b_start, ca2, var_scale, env_scale, wait_scale, ttft_env, out
):
    """Mean and percentiles of TTFT, TPOT and e2e at an arrival rate (see module doc).

    Parameters
    ----------
    cfg : float64[NCFG]
    rate : float
        Arrivals per second at this replica.
    i_pts, o_pts : float64[k]
        Equally likely prompt and output lengths (slice means of the workload's
        distributions).
    b_start : float
        A first guess of the batch (the mean-field :func:`grid.operating_point`).
    ca2 : float
        Squared coefficient of variation of inter-arrival times (Poisson: 1).
    var_scale, env_scale, wait_scale, ttft_env : float
        The fitted constants (module docstring).
    out : float64[COLUMNS]
        Filled with (mean, p50, p90, p95, p99) of TTFT, then TPOT, then e2e; inf when the
        replica is saturated.
    """
    k = i_pts.shape[0]
    i_len = 0.0
    o_tokens = 0.0
    o_len = 0.0  # iterations in the batch (O without speculative decoding)
    o_m2 = 0.0
    for j in range(k):
        i_len += i_pts[j] / k
        o_tokens += o_pts[j] / k
        o_it = iterations_per_request(cfg, o_pts[j])
        o_len += o_it / k
        o_m2 += o_it * o_it / k
    per_step = tokens_per_step(cfg)
    b_lim = min(cfg[c.MAX_NUM_SEQS], max_batch(cfg, i_len, o_tokens))
    b, tau, rho_p = lumpy_operating_point(cfg, rate, i_pts, o_pts, b_start)
    if not (tau > 0.0 and math.isfinite(tau)) or rate <= 0.0:
        for j in range(COLUMNS):
            out[j] = math.inf
        return
    bb = max(b, 1.0)
    ctx = bb * (i_len + o_tokens / 2.0)
    tau0 = step_time_s(cfg, 0.0, 0.0, 0.0, bb, ctx)
    cost = np.empty(k)
    share = batching_share(cfg, i_pts, rate * tau, bb, ctx, tau0)
    prompt_costs(cfg, i_pts, bb, ctx, tau0, share, cost)
    cost_m2 = 0.0
    for j in range(k):
        cost_m2 += cost[j] * cost[j] / k
    rho_p = min(rho_p, 0.99)
    # decode cost is linear in the batch near B: tau0(B) = base + slope * B
    slope = step_time_s(cfg, 0.0, 0.0, 0.0, bb + 1.0, ctx * (bb + 1.0) / bb) - tau0
    base = max(tau0 - slope * bb, 0.0)
    # every arrival brings its prompt's cost and slope seconds to each of its O iterations:
    # an M/G/1 workload of load u and per-arrival work W = P + slope * O
    cost_mean = np.mean(cost)
    work_m2 = cost_m2 + 2.0 * slope * o_len * cost_mean + slope * slope * o_m2
    load = min(rho_p + rate * o_len * slope, 0.99)
    headroom = 1.0 - load
    burst = ca2 * rate * work_m2  # variance of arriving work per second
    # slow drift over a decode life, never shorter than the gap between arrivals
    # (module docstring)
    window_s = o_len * tau + 1.0 / rate
    drift = min(env_scale * ca2 * rate * cost_m2 / (window_s * headroom * headroom), 1.0)
    # an arrival lands in a decode-only iteration or, with the prompts' share of the time,
    # in one carrying a prompt, picked in proportion to its cost (length bias); it waits
    # for the rest of it, then for the prompts of others that arrived meanwhile
    land = rho_p
    # the replica is busy while anything decodes or prefills (Poisson occupancy)
    busy = max(1.0 - math.exp(-(b + rho_p)), land)
    cost_sum = cost_mean * k
    # a slot: Erlang C over the batch limit, with the decode life as the service time
    cs2 = max(o_m2 / (o_len * o_len) - 1.0, 0.0)
    p_wait = erlang_c(b_lim, b)
    slot_mean = o_len * tau / max(b_lim - b, 1.0) * 0.5 * (ca2 + cs2)
    # clumped arrivals queue beyond what Poisson ones do: Allen-Cunneen's excess
    # (ca2 - 1) / 2 of an M/G/1 wait, atom at zero (probability 1 - rho_p). The queue is
    # of prompts behind prompts: decodes slow each iteration (already in P) but do not
    # hold a prompt back, so the load is the prompts' own. At the whole GPU's load, bursts
    # of short prompts at 80% load were over-stated by up to +140%.
    clump = wait_scale * max(ca2 - 1.0, 0.0) / 2.0 * rho_p / (1.0 - rho_p) * cost_mean
    clump_var = clump * clump * (2.0 / max(rho_p, 1e-9) - 1.0)

    # the next iteration, when the engine delivers a step's tokens during the next one
    lag = cfg[c.OUTPUT_LAG] * tau
    ttft_m = np.empty(k * (k + 2))
    ttft_v = np.empty(k * (k + 2))
    ttft_w = np.empty(k * (k + 2))
    ttft_s = np.empty(k * (k + 2))  # floors: its own prompt's iteration
    # TTFT mean and variance given the request's own prompt, before any output lag: the
    # simulation delays only the first token, not the finish
    own_m = np.empty(k)
    own_v = np.empty(k)
    for i in range(k):
        m1 = 0.0
        m2 = 0.0
        for j in range(k + 2):
            if j == k:
                t_land = tau
                weight = busy - land
            elif j == k + 1:
                t_land = 0.0  # the replica is idle: the prompt starts at once
                weight = 1.0 - busy
            else:
                # the lump, and the others that share its iteration (the gated chain's
                # length-biased mean: tau + rate E[P^2] / (1 - rho_p^2))
                t_land = tau + cost[j] / (1.0 - rho_p * rho_p)
                weight = land * cost[j] / cost_sum if cost_sum > 0.0 else 0.0
            wait = t_land * (0.5 + rho_p) * (1.0 + ttft_env * drift)
            var = t_land * t_land / 12.0 + ca2 * rate * cost_m2 * t_land
            m = wait + p_wait * slot_mean + clump + tau0 + cost[i]
            v = (
                var
                + p_wait * (2.0 - p_wait) * slot_mean**2
                + clump_var
                + ttft_env * drift * wait * wait
            )
            ttft_m[i * (k + 2) + j] = m + lag
            ttft_s[i * (k + 2) + j] = tau0 + cost[i] + lag
            ttft_v[i * (k + 2) + j] = v
            ttft_w[i * (k + 2) + j] = weight / k
            m1 += weight * m
            m2 += weight * (v + m * m)
        own_m[i] = m1
        own_v[i] = max(m2 - m1 * m1, 0.0)
    half = (k + 1) // 2
    block = np.empty(k * (k + 2), dtype=np.int64)
    for i in range(k):
        for j in range(k + 2):
            col = j // 2 if j < k else half + j - k
            block[i * (k + 2) + j] = (i // 2) * (half + 2) + col
    cm, cv, cs, cw = coarsen(ttft_m, ttft_v, ttft_s, ttft_w, block, half * (half + 2))
    _stats_into(out, 0, cm, cv, cs, cw, half * (half + 2))

    n_dec = 0
    for j in range(k):
        if o_pts[j] > 1.0:
            n_dec += 1
    # two laws per output length: no prompt joined its decode life, or some did
    tpot_m = np.zeros(2 * max(n_dec, 1))
    tpot_v = np.zeros(2 * max(n_dec, 1))
    tpot_w = np.zeros(2 * max(n_dec, 1))
    # floor: a decode step of an empty batch, over the tokens it yields
    tpot_s = np.full(2 * max(n_dec, 1), base / per_step)
    e2e_m = np.empty(k * k)
    e2e_v = np.empty(k * k)
    e2e_w = np.full(k * k, 1.0 / (k * k))
    e2e_s = np.empty(k * k)
    # Prompts that arrive while a request's own prompt runs queue behind it (first come,
    # first served; its chunks fill the token budget), so they ride in its first decode
    # iterations: long prompts with short answers see them in most of their few decode
    # steps. Those arrivals bring a prompt's cost each; a decode iteration carries at
    # most one budget's worth of prompt tokens.
    pending = rate * cost_mean
    backlog = pending * cost_mean
    per_iter_cap = full_chunk_cost(cfg, bb, ctx, tau0)
    d = 0
    for j in range(k):
        steps = decode_iterations(cfg, o_pts[j])
        mean = 0.0
        var = 0.0
        extra = 0.0  # seconds the queued prompts add to its decode life
        extra_var = 0.0
        if steps > 0.0:
            if backlog > 0.0:
                cap = min(steps * per_iter_cap, backlog)
                shrink = cap / backlog
                extra = cap / (1.0 - rho_p)
                extra_var = ca2 * pending * cost_m2 * shrink * shrink / (1.0 - rho_p) ** 2
            # a request's decode life is a busy period started by steps * base seconds
            x = steps / o_len
            averaging = 2.0 * (x - 1.0 + math.exp(-x)) / (x * x) if x > 1e-6 else 1.0
            mean = tau * (1.0 + drift) + extra / steps
            var = var_scale * base * burst / (steps * headroom**3)
            var += tau * tau * drift * averaging + extra_var / (steps * steps)
            # A short decode life often sees no prompt join it (all decode-only iterations)
            # and otherwise one lump spread over few tokens: an atom and a tail that one
            # gamma cannot draw. Split it, keeping the mean and variance: arrivals during
            # the life or queued behind its prompt are Poisson, or for clumped ones negative
            # binomial with dispersion ca2, and none comes with probability p0.
            arrivals = rate * (steps * tau + cost_mean)
            if ca2 > 1.0 + 1e-9:
                p0 = math.exp(-arrivals * math.log(ca2) / (ca2 - 1.0))
            else:
                p0 = math.exp(-arrivals)
            m0 = tau0 * (1.0 + drift)
            v0 = tau0 * tau0 * drift * averaging
            m1 = mean
            v1 = var
            if p0 > 1e-6 and mean > m0:
                m1 = (mean - p0 * m0) / (1.0 - p0)
                v1 = (var + mean * mean - p0 * (v0 + m0 * m0)) / (1.0 - p0) - m1 * m1
            if not (p0 > 1e-6 and mean > m0 and v1 >= 0.0):
                # no atom to split off (or the lumps would carry less than nothing)
                p0 = 0.0
                m1 = mean
                v1 = var
            # a token's time: an iteration's over the tokens it yields (fewer than E when
            # the last iteration is partly used)
            tok = (o_pts[j] - 1.0) / steps
            tpot_m[2 * d] = m0 / tok
            tpot_v[2 * d] = v0 / (tok * tok)
            tpot_w[2 * d] = p0 / n_dec
            tpot_m[2 * d + 1] = m1 / tok
            tpot_v[2 * d + 1] = v1 / (tok * tok)
            tpot_w[2 * d + 1] = (1.0 - p0) / n_dec
            d += 1
        for i in range(k):
            e2e_m[i * k + j] = own_m[i] + steps * mean
            e2e_v[i * k + j] = own_v[i] + steps * steps * var
            e2e_s[i * k + j] = tau0 + cost[i] + steps * base
    if n_dec > 0:
        _stats_into(out, STATS, tpot_m, tpot_v, tpot_s, tpot_w, 2 * n_dec)
    else:
        for j in range(STATS):
            out[STATS + j] = math.nan
    block = np.empty(k * k, dtype=np.int64)
    for i in range(k):
        for j in range(k):
            block[i * k + j] = (i // 2) * half + j // 2
    cm, cv, cs, cw = coarsen(e2e_m, e2e_v, e2e_s, e2e_w, block, half * half)
    _stats_into(out, 2 * STATS, cm, cv, cs, cw, half * half)
