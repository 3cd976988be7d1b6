"""Sweep speed: the fast method's per-point kernel, a whole 10^6-point sweep, and Dask.

Usage: python benchmarks/bench_grid.py [--points N] [--quick]

Measured in one run, so the ratios compare like with like:

* ``interpolate_points`` (compiled) against the same function run as a pure-Python loop
  (``.py_func``) and against a numpy reference (``np.interp`` per group and column);
* ``capacity_many`` and ``operating_table`` per distinct configuration;
* ``simplan.api.sweep`` on a 10^6-point grid (2 GPUs x 2 quantizations x 250 replica
  counts x 1000 rates), end to end;
* a 64-point ``simulate`` sweep with 1 and with 2 Dask workers (the speed-up of the
  second; several points per Dask task).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import erfinv
from simplan import api, latency_model
from simplan.kernels.grid import (
    FLAG,
    LATENCY_KIND,
    capacity_many,
    interpolate_points,
    operating_table,
    saturation_kinds,
)
from simplan.perf import replica_from_ids

BIG = """
name = "million-point sweep"
[model]
name = "llama-3.1-70b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
tp = 2
[workload]
rate_per_s = 1.0
duration_s = 600
input_tokens = 800
output_tokens = 250
[slo]
ttft_p95_s = 2.0
tpot_p95_s = 0.08
[sweep]
"hardware.gpu" = ["a100-sxm4-80gb", "h100-sxm"]
"model.weights" = ["fp8", "int4-awq"]
"hardware.replicas" = { start = 1, stop = 250, num = 250 }
"workload.rate_per_s" = { start = 0.1, stop = 500, num = 1000, log = true }
"""

SIM = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 5.0
duration_s = 300
input_tokens = 500
output_tokens = 200
[sweep]
"hardware.replicas" = [1, 2, 3, 4]
"workload.rate_per_s" = { start = 2.0, stop = 40.0, num = 16 }
"""


def best_of(fn, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numpy_reference(rates, values, group, rate, r_max):  # type: ignore[no-untyped-def]
    """Bracketing rows by np.searchsorted and a vectorised blend per group; saturated
    points, and points past a finite row towards an infinite one, as in the kernel."""
    out = np.empty((group.size, values.shape[2]))
    for g in np.unique(group):
        m = np.flatnonzero(group == g)
        r = np.clip(rate[m], rates[g, 0], rates[g, -1])
        hi = np.clip(np.searchsorted(rates[g], r, side="right"), 1, rates.shape[1] - 1)
        lo = hi - 1
        w = (r - rates[g, lo]) / (rates[g, hi] - rates[g, lo])
        a, b = values[g, lo], values[g, hi]
        with np.errstate(invalid="ignore"):
            blend = a + w[:, None] * (b - a)
        blend = np.where(np.isinf(a) | (np.isinf(b) & (w[:, None] > 0)), np.inf, blend)
        blend = np.where(w[:, None] <= 0, a, blend)
        sat = ~(rate[m] < r_max[g])
        blend[:, 2] = np.where(sat, 1.0, 0.0)
        last = values[g, -1]
        kinds = saturation_kinds(np.arange(values.shape[2]))
        for v in range(values.shape[2]):
            if kinds[v] == LATENCY_KIND:
                blend[sat, v] = np.inf
            elif kinds[v] != FLAG:
                blend[sat, v] = last[v]
        out[m] = blend
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=2_000_000)
    ap.add_argument("--quick", action="store_true", help="skip the Dask comparison")
    args = ap.parse_args()

    configs = [
        replica_from_ids(m, g, w, "fp16", tp)
        for m in ("llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b")
        for g in ("a100-sxm4-80gb", "h100-sxm")
        for w in ("fp16", "fp8", "int4-awq")
        for tp in (2, 4)
    ]
    cfgs = np.stack([r.cfg for r in configs])
    n_cfg = cfgs.shape[0]
    i_len, o_len = np.full(n_cfg, 800.0), np.full(n_cfg, 250.0)
    # lognormal lengths as the fast model sees them (16 equally likely values each)
    k = 16
    q = (np.arange(k) + 0.5) / k
    spread = np.exp(0.8 * np.sqrt(2) * erfinv(2 * q - 1) - 0.32)
    i_pts, o_pts = np.tile(800.0 * spread, (n_cfg, 1)), np.tile(250.0 * spread, (n_cfg, 1))
    ca2 = np.ones(n_cfg)
    params = latency_model.params()

    def table(c: np.ndarray, r: np.ndarray, sl: slice) -> tuple[np.ndarray, np.ndarray]:
        return operating_table(c, i_len[sl], o_len[sl], r, i_pts[sl], o_pts[sl], ca2[sl], params)

    capacity_many(cfgs[:1], i_len[:1], o_len[:1])  # compile
    t_cap = best_of(lambda: capacity_many(cfgs, i_len, o_len))
    cap = capacity_many(cfgs, i_len, o_len)
    table(cfgs[:1], cap[:1, 1], slice(0, 1))
    t_tab = best_of(lambda: table(cfgs, cap[:, 1], slice(None)), repeats=1)
    rates, values = table(cfgs, cap[:, 1], slice(None))

    rng = np.random.default_rng(0)
    n = args.points
    group = rng.integers(0, n_cfg, n)
    rate = rng.uniform(0.0, 1.1, n) * cap[group, 1]
    # the columns a fast sweep with a p95 SLO interpolates (simplan.sweep.fast)
    cols = np.array(
        [
            latency_model.column(c)
            for c in (
                "saturated",
                *(f"{m}_{s}_s" for m in ("ttft", "tpot", "e2e") for s in ("mean", "p95")),
            )
        ]
    )
    kinds = saturation_kinds(cols)
    sub = np.ascontiguousarray(values[:, :, cols])  # as a sweep slices its table
    interpolate_points(rates, sub, group[:10], rate[:10], cap[:, 1], kinds)
    t_fast = best_of(lambda: interpolate_points(rates, sub, group, rate, cap[:, 1], kinds))
    fast = interpolate_points(rates, sub, group, rate, cap[:, 1], kinds)
    t_np = best_of(lambda: numpy_reference(rates, values, group, rate, cap[:, 1]))
    ref = numpy_reference(rates, values, group, rate, cap[:, 1])[:, cols]
    np.testing.assert_allclose(fast, ref, rtol=1e-9)
    n_py = 20_000
    t_py = best_of(
        lambda: interpolate_points.py_func(rates, sub, group[:n_py], rate[:n_py], cap[:, 1], kinds),
        repeats=1,
    )

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.toml"
        big.write_text(BIG)
        api.sweep(big)  # warm
        t_big = best_of(lambda: api.sweep(big), repeats=1)
        sim_rows = []
        if not args.quick:
            small = Path(tmp) / "sim.toml"
            small.write_text(SIM)
            for workers in (1, 2):
                sim_rows.append(
                    (
                        workers,
                        best_of(
                            lambda w=workers: api.sweep(small, method="simulate", workers=w),
                            repeats=1,
                        ),
                    )
                )

    rows = [
        ("interpolate_points, compiled (per point)", n, t_fast),
        ("same model, numpy reference (np.interp)", n, t_np),
        ("same model, pure-Python loop (.py_func)", n_py, t_py),
        ("capacity_many (per configuration)", n_cfg, t_cap),
        ("operating_table (per configuration)", n_cfg, t_tab),
        ("api.sweep fast, 10^6-point grid, end to end", 1_000_000, t_big),
    ]
    print(f"{'what':48s} {'count':>10s} {'seconds':>9s} {'per second':>14s}")
    for what, count, secs in rows:
        print(f"{what:48s} {count:10,d} {secs:9.3f} {count / secs:14,.0f}")
    print(
        f"compiled vs numpy reference: {t_np / n / (t_fast / n):.1f}x; "
        f"vs pure Python: {(t_py / n_py) / (t_fast / n):,.0f}x"
    )
    if sim_rows:
        (w1, t1), (w2, t2) = sim_rows
        print(
            f"simulate sweep, 64 points: {w1} worker {t1:.1f} s, {w2} workers {t2:.1f} s: "
            f"speed-up {t1 / t2:.2f}x"
        )


if __name__ == "__main__":
    main()
