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
from simplan import api
from simplan.kernels.grid import capacity_many, interpolate_points, operating_table
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
    """np.interp per group and column; saturated points as in the kernel."""
    out = np.empty((group.size, values.shape[2]))
    for g in np.unique(group):
        m = group == g
        for v in range(values.shape[2]):
            out[m, v] = np.interp(rate[m], rates[g], values[g, :, v])
        sat = m & ~(rate < r_max[g])
        out[sat, 2] = 1.0
        out[sat, 3] = np.inf
        out[sat, 5] = np.inf
        out[m & (rate < r_max[g]), 2] = 0.0
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
    lim = np.full(n_cfg, 2.0)
    capacity_many(cfgs[:1], i_len[:1], o_len[:1], lim[:1], lim[:1] / 25, lim[:1] * 1e9)  # compile
    t_cap = best_of(lambda: capacity_many(cfgs, i_len, o_len, lim, lim / 25, lim * 1e9))
    cap = capacity_many(cfgs, i_len, o_len, lim, lim / 25, lim * 1e9)
    operating_table(cfgs[:1], i_len[:1], o_len[:1], cap[:1, 1])
    t_tab = best_of(lambda: operating_table(cfgs, i_len, o_len, cap[:, 1]), repeats=1)
    rates, values = operating_table(cfgs, i_len, o_len, cap[:, 1])

    rng = np.random.default_rng(0)
    n = args.points
    group = rng.integers(0, n_cfg, n)
    rate = rng.uniform(0.0, 1.1, n) * cap[group, 1]
    interpolate_points(rates, values, group[:10], rate[:10], cap[:, 1])
    t_fast = best_of(lambda: interpolate_points(rates, values, group, rate, cap[:, 1]))
    fast = interpolate_points(rates, values, group, rate, cap[:, 1])
    t_np = best_of(lambda: numpy_reference(rates, values, group, rate, cap[:, 1]))
    ref = numpy_reference(rates, values, group, rate, cap[:, 1])
    np.testing.assert_allclose(fast, ref, rtol=1e-9)
    n_py = 20_000
    t_py = best_of(
        lambda: interpolate_points.py_func(rates, values, group[:n_py], rate[:n_py], cap[:, 1]),
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
