"""Steady-state evaluation of whole sweep grids in compiled loops.

For a replica receiving requests at ``rate`` per second with mean prompt ``I`` and output
``O`` tokens, continuous batching settles where the iteration time ``tau`` and the number
of decoding sequences ``B`` agree:

* each iteration carries one token per decoding sequence plus the prompt tokens that
  arrived during it (``rate * I * tau``, chunked prefill): ``tau = step(rate*I*tau, B)``;
* by Little's law a request decodes for ``O`` iterations: ``B = rate * O * tau``.

Both maps are close to affine, so each fixed point is found with Aitken's extrapolation
in a few steps; a map whose slope reaches 1 has no fixed point and the replica is
saturated (prefill alone, or prefill plus decodes, needs more than all of its time).
The largest sustainable rate ``r_max`` is where ``B`` reaches its limit (``max_num_seqs``
or the KV cache at these lengths). Latency estimates: time per output token is ``tau``;
time to first token is the iterations that carry the prompt's chunks beside the running
decodes, plus a queueing wait of half an iteration inflated by ``1 / (1 - rate / r_max)``
(an M/M/1-style approximation that the tests check against the simulation).

Capacities depend only on the configuration and lengths, so :func:`capacity_many` runs
once per distinct configuration and :func:`operating_point_many` once per grid point.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels._jit import kernel
from simplan.kernels.memory import max_batch
from simplan.kernels.roofline import step_time_s

_AITKEN_ROUNDS = 6
_BISECT = 48


@kernel
def _tau_step(cfg, rate, i_len, o_len, b, tau):
    arriving = rate * tau
    return step_time_s(
        cfg,
        arriving * i_len,
        arriving * i_len * (i_len + 1.0) / 2.0,
        arriving,
        max(b, 1.0),
        max(b, 1.0) * (i_len + o_len / 2.0),
    )


@kernel
def iteration_time(cfg, rate, i_len, o_len, b):
    """Iteration time with ``b`` decoding sequences while prompts arrive at ``rate``.

    Returns ``inf`` when the prompt work arriving per iteration outgrows the iteration.
    """
    tau = step_time_s(cfg, 0.0, 0.0, 0.0, max(b, 1.0), max(b, 1.0) * (i_len + o_len / 2.0))
    if rate <= 0.0:
        return tau
    for _ in range(_AITKEN_ROUNDS):
        t1 = _tau_step(cfg, rate, i_len, o_len, b, tau)
        t2 = _tau_step(cfg, rate, i_len, o_len, b, t1)
        d1 = t1 - tau
        d2 = t2 - t1
        if abs(d2) <= 1e-12 * t2:
            return t2
        q = d2 / d1 if d1 != 0.0 else 0.0
        if q >= 1.0 - 1e-9:
            return math.inf
        tau = t2 + d2 * q / (1.0 - q) if q > 0.0 else t2
    return _tau_step(cfg, rate, i_len, o_len, b, tau)


@kernel
def batch_limit(cfg, i_len, o_len):
    """Most sequences a replica decodes at once at these lengths (seqs and KV limits)."""
    return min(cfg[c.MAX_NUM_SEQS], max_batch(cfg, i_len, o_len))


@kernel
def max_rate(cfg, i_len, o_len):
    """Largest arrival rate (req/s) one replica sustains: ``rate * O * tau = B_limit``."""
    b_lim = batch_limit(cfg, i_len, o_len)
    if b_lim < 1.0:
        return 0.0
    hi = b_lim / (o_len * iteration_time(cfg, 0.0, i_len, o_len, b_lim))
    lo = 0.0
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        tau = iteration_time(cfg, mid, i_len, o_len, b_lim)
        if math.isfinite(tau) and mid * o_len * tau <= b_lim:
            lo = mid
        else:
            hi = mid
    return lo


@kernel
def operating_point(cfg, rate, i_len, o_len, r_max):
    """(batch, iteration_s, saturated) of one replica at arrival ``rate``."""
    b_lim = batch_limit(cfg, i_len, o_len)
    if rate >= r_max or b_lim < 1.0:
        tau = iteration_time(cfg, r_max, i_len, o_len, b_lim) if b_lim >= 1.0 else math.nan
        return b_lim, tau, 1.0
    b = 0.0
    for _ in range(_AITKEN_ROUNDS):
        b1 = rate * o_len * iteration_time(cfg, rate, i_len, o_len, b)
        b2 = rate * o_len * iteration_time(cfg, rate, i_len, o_len, b1)
        d1 = b1 - b
        d2 = b2 - b1
        if abs(d2) <= 1e-10 * max(b2, 1e-12):
            b = b2
            break
        q = d2 / d1 if d1 != 0.0 else 0.0
        b = b2 + d2 * q / (1.0 - q) if 0.0 < q < 1.0 else b2
    b = min(b, b_lim)
    return b, iteration_time(cfg, rate, i_len, o_len, b), 0.0


@kernel
def latency_estimate(cfg, rate, i_len, o_len, b, tau, r_max):
    """Mean (ttft_s, tpot_s, e2e_s) at an operating point; infinite when saturated."""
    if rate >= r_max or not tau > 0.0:
        return math.inf, tau, math.inf
    rho = rate / r_max
    budget = max(cfg[c.MAX_BATCHED_TOKENS] - b, 1.0)
    chunks = max(1.0, math.ceil(i_len / budget))
    chunk = i_len / chunks
    # the iterations that carry this prompt's chunks, beside the running decodes
    t_prompt = step_time_s(
        cfg, chunk, chunk * (i_len / 2.0 + 0.5), 1.0, b, b * (i_len + o_len / 2.0)
    )
    ttft = chunks * t_prompt + 0.5 * tau / (1.0 - rho)
    return ttft, tau, ttft + (o_len - 1.0) * tau


@kernel
def max_rate_under_slo(cfg, i_len, o_len, r_max, ttft_limit, tpot_limit, e2e_limit):
    """Largest arrival rate whose estimated mean TTFT, TPOT and e2e stay within the limits."""
    lo = 0.0
    hi = r_max
    if hi <= 0.0:
        return 0.0
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        b, tau, sat = operating_point(cfg, mid, i_len, o_len, r_max)
        ttft, tpot, e2e = latency_estimate(cfg, mid, i_len, o_len, b, tau, r_max)
        if sat < 0.5 and ttft <= ttft_limit and tpot <= tpot_limit and e2e <= e2e_limit:
            lo = mid
        else:
            hi = mid
    return lo


@kernel
def capacity_many(cfgs, i_len, o_len, ttft_limit, tpot_limit, e2e_limit):
    """Per configuration: (batch_limit, max_rate_per_s, max_rate_under_slo_per_s), (n, 3)."""
    n = cfgs.shape[0]
    out = np.empty((n, 3))
    for i in range(n):
        cfg = cfgs[i]
        r_max = max_rate(cfg, i_len[i], o_len[i])
        out[i, 0] = batch_limit(cfg, i_len[i], o_len[i])
        out[i, 1] = r_max
        out[i, 2] = max_rate_under_slo(
            cfg, i_len[i], o_len[i], r_max, ttft_limit[i], tpot_limit[i], e2e_limit[i]
        )
    return out


@kernel
def operating_point_many(cfgs, rate, i_len, o_len, r_max):
    """Per grid point: (batch, iteration_s, saturated, ttft_s, tpot_s, e2e_s), (n, 6)."""
    n = cfgs.shape[0]
    out = np.empty((n, 6))
    for i in range(n):
        cfg = cfgs[i]
        b, tau, sat = operating_point(cfg, rate[i], i_len[i], o_len[i], r_max[i])
        ttft, tpot, e2e = latency_estimate(cfg, rate[i], i_len[i], o_len[i], b, tau, r_max[i])
        out[i, 0] = b
        out[i, 1] = tau
        out[i, 2] = sat
        out[i, 3] = ttft
        out[i, 4] = tpot
        out[i, 5] = e2e
    return out


#: Rates tabulated per configuration for grid interpolation (denser towards saturation).
TABLE_RATES = 257


@kernel
def operating_table(cfgs, i_len, o_len, r_max):
    """Per configuration, the operating point over a grid of rates in (0, r_max).

    Returns (rates, values): rates is (n, TABLE_RATES); values is (n, TABLE_RATES, 6)
    with the columns of :func:`operating_point_many`. The grid is
    ``r_max * (1 - (1 - u)**2)`` for u uniform in [0, 1), so it is densest where
    latency rises steeply near saturation.
    """
    n = cfgs.shape[0]
    k = TABLE_RATES
    rates = np.empty((n, k))
    values = np.empty((n, k, 6))
    for i in range(n):
        for j in range(k):
            u = j / k
            rate = r_max[i] * (1.0 - (1.0 - u) ** 2)
            rate = max(rate, r_max[i] * 1e-6)
            rates[i, j] = rate
            b, tau, sat = operating_point(cfgs[i], rate, i_len[i], o_len[i], r_max[i])
            ttft, tpot, e2e = latency_estimate(cfgs[i], rate, i_len[i], o_len[i], b, tau, r_max[i])
            values[i, j, 0] = b
            values[i, j, 1] = tau
            values[i, j, 2] = sat
            values[i, j, 3] = ttft
            values[i, j, 4] = tpot
            values[i, j, 5] = e2e
    return rates, values


@kernel
def interpolate_points(rates, values, group, rate, r_max):
    """Operating points of many grid points by linear interpolation in their group's table.

    ``group[p]`` indexes the table of point p; points at or above ``r_max`` are
    saturated (latencies infinite, the batch and iteration time those at the limit).
    Returns an (n, 6) array like :func:`operating_point_many`.
    """
    n = group.shape[0]
    k = rates.shape[1]
    out = np.empty((n, 6))
    for p in range(n):
        g = group[p]
        r = rate[p]
        if not r < r_max[g]:
            out[p, 0] = values[g, k - 1, 0]
            out[p, 1] = values[g, k - 1, 1]
            out[p, 2] = 1.0
            out[p, 3] = math.inf
            out[p, 4] = values[g, k - 1, 4]
            out[p, 5] = math.inf
            continue
        # binary search for the bracketing table rates (clamped at both ends)
        lo = 0
        hi = k - 1
        if r <= rates[g, 0]:
            hi = 0
        elif r >= rates[g, k - 1]:
            lo = k - 1
        else:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if rates[g, mid] <= r:
                    lo = mid
                else:
                    hi = mid
        if hi == 0 or hi == lo:
            for v in range(6):
                out[p, v] = values[g, hi, v]
            continue
        w = (r - rates[g, lo]) / (rates[g, hi] - rates[g, lo])
        for v in range(6):
            out[p, v] = values[g, lo, v] + w * (values[g, hi, v] - values[g, lo, v])
        out[p, 2] = 0.0
    return out
