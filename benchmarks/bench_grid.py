"""Sweep-grid speed: the compiled steady-state model against the simulation per point.

Usage: python benchmarks/bench_grid.py [--points N] [--sim-points M]

Times ``operating_point_many`` (one call per grid of N points), ``capacity_many`` (one
call per distinct configuration) and, as the baseline measured in the same run, the
discrete-event simulation of M of those points (a 120 s Poisson window each). Reports
points per second and the speed-up of the fast method over simulating every point.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from simplan.kernels.grid import capacity_many, operating_point_many
from simplan.perf import replica_from_ids
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate


def best_of(fn, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--sim-points", type=int, default=4)
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
    i_len = np.full(n_cfg, 800.0)
    o_len = np.full(n_cfg, 250.0)
    lim = np.full(n_cfg, 2.0)
    capacity_many(cfgs[:1], i_len[:1], o_len[:1], lim[:1], lim[:1] / 20)  # compile
    t_cap = best_of(lambda: capacity_many(cfgs, i_len, o_len, lim, lim / 20))
    cap = capacity_many(cfgs, i_len, o_len, lim, lim / 20)

    rng = np.random.default_rng(0)
    pick = rng.integers(0, n_cfg, args.points)
    rates = rng.uniform(0.05, 0.95, args.points) * cap[pick, 1]
    grid = np.ascontiguousarray(cfgs[pick])
    operating_point_many(grid[:2], rates[:2], i_len[pick][:2], o_len[pick][:2], cap[pick, 1][:2])
    t_op = best_of(
        lambda: operating_point_many(grid, rates, i_len[pick], o_len[pick], cap[pick, 1])
    )

    # baseline: the simulation of a few of the same points
    sim_times = []
    for k in range(args.sim_points):
        r = configs[int(pick[k])]
        sc = scenario_from_dict(
            {
                "model": {"name": r.arch.id, "weights": r.weights.id},
                "hardware": {"gpu": r.gpu.id, "tp": r.tp},
                "workload": {
                    "rate_per_s": float(rates[k]),
                    "duration_s": 120,
                    "input_tokens": 800,
                    "output_tokens": 250,
                },
            }
        )
        t = time.perf_counter()
        simulate(sc)
        sim_times.append(time.perf_counter() - t)
    sim_per_point = float(np.mean(sim_times))

    fast_per_point = t_op / args.points
    print(f"{'what':42s} {'count':>9s} {'seconds':>9s} {'per second':>12s}")
    print(
        f"{'capacity_many (per distinct config)':42s} {n_cfg:9d} {t_cap:9.4f} "
        f"{n_cfg / t_cap:12,.0f}"
    )
    print(
        f"{'operating_point_many (per grid point)':42s} {args.points:9d} {t_op:9.4f} "
        f"{args.points / t_op:12,.0f}"
    )
    print(
        f"{'simulate (120 s window, per point)':42s} {args.sim_points:9d} "
        f"{sum(sim_times):9.4f} {1 / sim_per_point:12,.2f}"
    )
    print(f"fast / simulate speed-up per point: {sim_per_point / fast_per_point:,.0f}x")


if __name__ == "__main__":
    main()
