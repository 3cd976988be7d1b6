"""Steady-state evaluation of whole sweep grids in compiled loops.

For a replica receiving requests at ``rate`` per second with mean prompt ``I`` and output
``O`` tokens, continuous batching settles where the iteration time ``tau`` and the number
of decoding sequences ``B`` agree:

* each iteration carries one token per decoding sequence plus the prompt tokens that
  arrived during it (``rate * I * tau``, chunked prefill): ``tau = step(rate*I*tau, B)``;
* by Little's law a request decodes for ``O`` iterations: ``B = rate * O * tau`` (with
  speculative decoding ``1 + (O - 1) / E`` iterations, E tokens each: see
  :mod:`simplan.kernels.speculative`).

Both maps are close to affine, so each fixed point is found with Aitken's extrapolation
in a few steps; a map whose slope reaches 1 has no fixed point and the replica is
saturated (prefill alone, or prefill plus decodes, needs more than all of its time).
The largest sustainable rate ``r_max`` is where ``B`` reaches its limit (``max_num_seqs``
or the KV cache at these lengths). Latency distributions (means and percentiles) around
that operating point come from :mod:`simplan.kernels.tail`.

Capacities depend only on the configuration and lengths, so :func:`capacity_many` and
:func:`operating_table` run once per distinct configuration; grid points interpolate in
the table (:func:`interpolate_points`), and :func:`rate_under_limits` reads the largest
rate meeting an SLO off the same table.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels import tail
from simplan.kernels._jit import kernel
from simplan.kernels.memory import max_batch, reused_prompt_tokens
from simplan.kernels.roofline import step_time_s
from simplan.kernels.speculative import iterations_per_request

_AITKEN_ROUNDS = 6
_BISECT = 48


@kernel
def _tau_step(cfg, rate, i_len, o_len, b, tau):
    arriving = rate * tau
    hit = reused_prompt_tokens(cfg, i_len)  # prefill starts after a cached prefix
    new = i_len - hit
    return step_time_s(
        cfg,
        arriving * new,
        arriving * new * (hit + (new + 1.0) / 2.0),
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
    o_iters = iterations_per_request(cfg, o_len)
    hi = b_lim / (o_iters * iteration_time(cfg, 0.0, i_len, o_len, b_lim))
    lo = 0.0
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        tau = iteration_time(cfg, mid, i_len, o_len, b_lim)
        if math.isfinite(tau) and mid * o_iters * tau <= b_lim:
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
    o_iters = iterations_per_request(cfg, o_len)
    for _ in range(_AITKEN_ROUNDS):
        b1 = rate * o_iters * iteration_time(cfg, rate, i_len, o_len, b)
        b2 = rate * o_iters * iteration_time(cfg, rate, i_len, o_len, b1)
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
def capacity_many(cfgs, i_len, o_len):
    """Per configuration: (batch_limit, max_rate_per_s), an (n, 2) array."""
    n = cfgs.shape[0]
    out = np.empty((n, 2))
    for i in range(n):
        out[i, 0] = batch_limit(cfgs[i], i_len[i], o_len[i])
        out[i, 1] = max_rate(cfgs[i], i_len[i], o_len[i])
    return out


#: Columns of an operating point: batch, iteration seconds, saturated (0/1), then
#: :data:`tail.COLUMNS` latency statistics (mean, p50, p90, p95, p99 of TTFT, TPOT, e2e).
LATENCY = 3
OP_COLUMNS = LATENCY + tail.COLUMNS
_TPOT = LATENCY + tail.STATS  # first TPOT column: TPOT stays finite at saturation


@kernel
def _point_into(cfg, rate, i_len, o_len, r_max, i_pts, o_pts, ca2, params, row):
    b, tau, sat = operating_point(cfg, rate, i_len, o_len, r_max)
    row[0] = b
    row[1] = tau
    row[2] = sat
    tail.latency_quantiles(
        cfg, rate, i_pts, o_pts, b, ca2, params[0], params[1], params[2], params[3], row[LATENCY:]
    )
    if sat > 0.5:
        for v in range(LATENCY, OP_COLUMNS):
            if not _TPOT <= v < _TPOT + tail.STATS:
                row[v] = math.inf


@kernel
def operating_point_many(cfgs, rate, i_len, o_len, r_max, i_pts, o_pts, ca2, params):
    """Per point: the :data:`OP_COLUMNS` columns of an operating point, (n, OP_COLUMNS).

    ``i_pts``/``o_pts`` are (n, k) equally likely lengths, ``ca2`` the arrivals' squared
    coefficient of variation and ``params`` the fitted constants of
    :func:`tail.latency_quantiles` (var_scale, env_scale, wait_scale, ttft_env).
    """
    n = cfgs.shape[0]
    out = np.empty((n, OP_COLUMNS))
    for i in range(n):
        _point_into(
            cfgs[i],
            rate[i],
            i_len[i],
            o_len[i],
            r_max[i],
            i_pts[i],
            o_pts[i],
            ca2[i],
            params,
            out[i],
        )
    return out


#: Rates tabulated per configuration for grid interpolation (denser towards saturation).
TABLE_RATES = 257
#: Latency statistics are computed at every TAIL_STRIDE-th tabulated rate (and the last)
#: and interpolated in between: each costs a few thousand gamma CDFs.
TAIL_STRIDE = 8


@kernel
def _lerp(a, b, w):
    """Linear interpolation where a latency may be infinite (saturated): a point past a
    finite row towards an infinite one is infinite."""
    if w <= 0.0:
        return a
    if math.isinf(a) or math.isinf(b):
        return math.inf
    return a + w * (b - a)


@kernel
def operating_table(cfgs, i_len, o_len, r_max, i_pts, o_pts, ca2, params):
    """Per configuration, the operating point over a grid of rates in (0, r_max).

    Returns (rates, values): rates is (n, TABLE_RATES); values is (n, TABLE_RATES,
    OP_COLUMNS) with the columns of :func:`operating_point_many`. The grid is
    ``r_max * (1 - (1 - u)**2)`` for u uniform in [0, 1), so it is densest where
    latency rises steeply near saturation.
    """
    n = cfgs.shape[0]
    k = TABLE_RATES
    rates = np.empty((n, k))
    values = np.empty((n, k, OP_COLUMNS))
    for i in range(n):
        for j in range(k):
            u = j / k
            rate = r_max[i] * (1.0 - (1.0 - u) ** 2)
            rates[i, j] = max(rate, r_max[i] * 1e-6)
        for j in range(k):
            if j % TAIL_STRIDE == 0 or j == k - 1:
                _point_into(
                    cfgs[i],
                    rates[i, j],
                    i_len[i],
                    o_len[i],
                    r_max[i],
                    i_pts[i],
                    o_pts[i],
                    ca2[i],
                    params,
                    values[i, j],
                )
        for j in range(k):
            if j % TAIL_STRIDE == 0 or j == k - 1:
                continue
            lo = j - j % TAIL_STRIDE
            hi = min(lo + TAIL_STRIDE, k - 1)
            b, tau, sat = operating_point(cfgs[i], rates[i, j], i_len[i], o_len[i], r_max[i])
            values[i, j, 0] = b
            values[i, j, 1] = tau
            values[i, j, 2] = sat
            span = rates[i, hi] - rates[i, lo]
            w = (rates[i, j] - rates[i, lo]) / span if span > 0.0 else 0.0
            for v in range(LATENCY, OP_COLUMNS):
                values[i, j, v] = _lerp(values[i, lo, v], values[i, hi, v], w)
    return rates, values


@kernel
def rate_under_limits(rates, values, limits):
    """Per configuration, the largest tabulated rate at which every latency statistic is
    within its limit (``limits``: (n, tail.COLUMNS), inf where none), interpolated
    linearly between table rows like :func:`interpolate_points`; 0 when none is."""
    n = rates.shape[0]
    k = rates.shape[1]
    out = np.zeros(n)
    for i in range(n):
        prev = 0.0
        found = False
        for j in range(k):
            ok = values[i, j, 2] < 0.5
            # share of the step from the previous row that stays within every limit
            frac = 1.0 if ok else 0.0
            for v in range(tail.COLUMNS):
                lim = limits[i, v]
                if not math.isfinite(lim):
                    continue
                x = values[i, j, LATENCY + v]
                if x <= lim:
                    continue
                ok = False
                if j > 0:
                    x0 = values[i, j - 1, LATENCY + v]
                    if math.isfinite(x) and x > x0:
                        frac = min(frac, max((lim - x0) / (x - x0), 0.0))
                    else:
                        frac = 0.0
            if not ok:
                if j > 0 and found:
                    out[i] = prev + frac * (rates[i, j] - prev)
                break
            prev = rates[i, j]
            found = True
            out[i] = prev
    return out


#: How a column behaves at saturation (:func:`interpolate_points`'s ``kind``).
KEEP, FLAG, LATENCY_KIND = 0, 1, 2


@kernel
def interpolate_points(rates, values, group, rate, r_max, kind):
    """Operating points of many grid points by linear interpolation in their group's table.

    ``group[p]`` indexes the table of point p; ``values`` holds the columns wanted (any
    subset of :data:`OP_COLUMNS`, contiguous: a sweep slices the table once) and
    ``kind[v]`` how column v saturates: points at or above ``r_max`` take the last row
    (KEEP: batch, iteration time, TPOT), 1 (FLAG: the saturated flag) or inf (LATENCY).
    Returns an (n, values.shape[2]) array.
    """
    n = group.shape[0]
    k = rates.shape[1]
    m = values.shape[2]
    out = np.empty((n, m))
    for p in range(n):
        g = group[p]
        r = rate[p]
        if not r < r_max[g]:
            for v in range(m):
                if kind[v] == FLAG:
                    out[p, v] = 1.0
                elif kind[v] == LATENCY_KIND:
                    out[p, v] = math.inf
                else:
                    out[p, v] = values[g, k - 1, v]
            continue
        # the bracketing table rows (clamped at both ends): guessed by inverting the
        # table's rate grid r_max * (1 - (1 - j/K)^2), then stepped to the exact bracket
        # (which holds for any increasing table)
        lo = 0
        hi = k - 1
        if r <= rates[g, 0]:
            hi = 0
        elif r >= rates[g, k - 1]:
            lo = k - 1
        else:
            x = 1.0 - r / r_max[g]
            j = int((1.0 - math.sqrt(x if x > 0.0 else 0.0)) * k)
            j = min(max(j, 0), k - 2)
            while j > 0 and rates[g, j] > r:
                j -= 1
            while j < k - 2 and rates[g, j + 1] <= r:
                j += 1
            lo = j
            hi = j + 1
        if hi == 0 or hi == lo:
            for v in range(m):
                out[p, v] = values[g, hi, v]
            continue
        w = (r - rates[g, lo]) / (rates[g, hi] - rates[g, lo])
        for v in range(m):
            out[p, v] = 0.0 if kind[v] == FLAG else _lerp(values[g, lo, v], values[g, hi, v], w)
    return out


@kernel
def saturation_kinds(cols):
    """The ``kind`` of each of the operating-point columns ``cols``."""
    out = np.empty(cols.shape[0], dtype=np.int64)
    for q in range(cols.shape[0]):
        v = cols[q]
        if v == 2:
            out[q] = FLAG
        elif v >= LATENCY and not _TPOT <= v < _TPOT + tail.STATS:
            out[q] = LATENCY_KIND
        else:
            out[q] = KEEP
    return out
