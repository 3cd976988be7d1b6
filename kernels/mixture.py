"""Mixtures of gamma laws: their quantiles and their coarsening.

The latency model (:mod:`simplan.kernels.tail`) describes a metric over requests as a
weighted mixture of gamma laws, each shifted by a floor; each law's CDF uses Wilson and
Hilferty's cube-root normal approximation, and a quantile is found on a geometric grid
of the CDF, then by bisection inside the bracketing cell.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.kernels._jit import kernel

#: Quantile search: CDF on a geometric grid, then bisection inside the bracketing cell
#: (a cell spans well under 100%, so 14 halvings leave a relative error near 1e-4).
_GRID = 28
_REFINE = 14


@kernel
def _mixture_cdf(t, shifts, inv_mean, centre, inv_scale, point, weights, n):
    """CDF at t of a mixture prepared by :func:`mixture_quantiles`: each law a gamma
    above its shift, its CDF by Wilson and Hilferty's cube root (normal in
    ``(x / mean)^(1/3)`` with mean ``1 - v`` and variance ``v = 1 / (9 shape)``), with
    the constants hoisted out of the search."""
    if not t > 0.0:
        return 0.0
    total = 0.0
    for k in range(n):
        w = weights[k]
        if w <= 0.0:
            continue
        if inv_scale[k] <= 0.0:  # a point mass
            if t >= point[k]:
                total += w
            continue
        x = t - shifts[k]
        if x > 0.0:
            z = (np.cbrt(x * inv_mean[k]) - centre[k]) * inv_scale[k]
            total += w * 0.5 * (1.0 + math.erf(z))
    return total


@kernel
def mixture_quantiles(qs, means, variances, shifts, weights, n, out):
    """Quantiles ``qs`` (increasing, in (0, 1)) into ``out`` of a mixture of ``n`` laws,
    each ``shift + gamma`` with this mean and variance (weights sum to 1): a geometric
    grid brackets each quantile, bisection refines it."""
    inv_mean = np.zeros(n)
    centre = np.zeros(n)
    inv_scale = np.zeros(n)
    lo = math.inf
    hi = 0.0
    for k in range(n):
        if weights[k] <= 0.0:
            continue
        m = means[k]
        var = max(variances[k], 0.0)
        sd = math.sqrt(var)
        g = m - shifts[k]  # the gamma part's mean
        hi = max(hi, m + 12.0 * sd)
        lo = min(lo, max(m - 6.0 * sd, shifts[k] + g / 50.0, m / 1e6))
        if g > 1e-9 * m and var > 1e-12 * g * g:
            v = var / (9.0 * g * g)
            inv_mean[k] = 1.0 / g
            centre[k] = 1.0 - v
            inv_scale[k] = 1.0 / math.sqrt(2.0 * v)
    if not hi > 0.0:
        for j in range(qs.shape[0]):
            out[j] = 0.0
        return
    lo = min(max(lo, hi * 1e-9), hi)
    ratio = (hi / lo) ** (1.0 / (_GRID - 1))
    grid_t = np.empty(_GRID)
    grid_f = np.empty(_GRID)
    for g in range(_GRID):
        grid_t[g] = lo * ratio**g
        grid_f[g] = _mixture_cdf(grid_t[g], shifts, inv_mean, centre, inv_scale, means, weights, n)
    for j in range(qs.shape[0]):
        q = qs[j]
        a = grid_t[_GRID - 2]
        b = grid_t[_GRID - 1]
        for g in range(_GRID):
            if grid_f[g] >= q:
                b = grid_t[g]
                a = grid_t[g - 1] if g > 0 else 0.0
                break
        for _ in range(_REFINE):
            mid = 0.5 * (a + b)
            f = _mixture_cdf(mid, shifts, inv_mean, centre, inv_scale, means, weights, n)
            if f < q:
                a = mid
            else:
                b = mid
        out[j] = 0.5 * (a + b)


@kernel
def mixture_quantile(q, means, variances, weights, n):
    """The q-quantile (0 < q < 1) of a mixture of ``n`` gamma laws (weights sum to 1)."""
    qs = np.array([q])
    out = np.empty(1)
    mixture_quantiles(qs, means, variances, np.zeros(n), weights, n, out)
    return out[0]


@kernel
def coarsen(means, variances, shifts, weights, block, nb):
    """Merge mixture components into ``nb`` blocks (``block[q]``: component q's block),
    keeping each block's weight, mean and variance (and the lowest floor): the quantile
    search then costs a quarter as much for a 2x2 merge, at a small loss of shape."""
    w = np.zeros(nb)
    m1 = np.zeros(nb)
    m2 = np.zeros(nb)
    sh = np.full(nb, math.inf)
    for q in range(means.shape[0]):
        g = block[q]
        wc = weights[q]
        w[g] += wc
        m1[g] += wc * means[q]
        m2[g] += wc * (variances[q] + means[q] * means[q])
        sh[g] = min(sh[g], shifts[q])
    mean = np.zeros(nb)
    var = np.zeros(nb)
    for g in range(nb):
        if w[g] > 0.0:
            mean[g] = m1[g] / w[g]
            var[g] = max(m2[g] / w[g] - mean[g] * mean[g], 0.0)
        else:
            sh[g] = 0.0
    return mean, var, sh, w
