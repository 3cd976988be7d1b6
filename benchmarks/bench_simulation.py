"""Speed of the serving simulation: simulated requests per wall-clock second.

Usage::

    /work/venv/bin/python benchmarks/bench_simulation.py [--quick] [--load 0.6] [--seed S]

A chat workload (Poisson arrivals, lognormal lengths with mean 500 input / 200 output
tokens) on a fleet of Llama 3.1 8B replicas on H100 SXM, at a rate that keeps the fleet
about ``--load`` busy (from the fleet capacity estimate the summary reports). It times

* 1k, 10k and 100k requests on 8 replicas (``--quick``: 1k and 10k), and the ratio of
  per-request wall time at the largest size to that at 1k (1.0 = linear);
* 10k requests on 1, 2, 4 and 8 replicas;
* one :func:`summarize` call on the largest run.

One small run first loads numba's compiled kernels so that load is not timed. Cases of
up to 10k requests report the best of three runs, larger ones a single run
(time.perf_counter).
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any

from simplan.metrics import fleet_capacity_tokens_per_s, summarize
from simplan.pools import build_pools
from simplan.scenario import Scenario, scenario_from_dict
from simplan.sim import SimResult, simulate

MEAN_IN, MEAN_OUT = 500, 200


def chat_scenario(replicas: int, num_requests: int, load: float, seed: int) -> Scenario:
    raw: dict[str, Any] = {
        "model": {"name": "llama-3.1-8b"},
        "hardware": {"gpu": "h100-sxm", "replicas": replicas},
        "workload": {
            "arrival": "poisson",
            "rate_per_s": 1.0,  # replaced below
            "num_requests": num_requests,
            "input_tokens": {
                "distribution": "lognormal",
                "mean": MEAN_IN,
                "std": 400,
                "max": 8000,
            },
            "output_tokens": {
                "distribution": "lognormal",
                "mean": MEAN_OUT,
                "std": 150,
                "max": 2000,
            },
        },
        "simulation": {"seed": seed},
    }
    sc = scenario_from_dict(raw)
    capacity = fleet_capacity_tokens_per_s(SimpleNamespace(pools=build_pools(sc)), 500, 200)
    raw["workload"]["rate_per_s"] = load * capacity / (MEAN_IN + MEAN_OUT)
    return scenario_from_dict(raw)


def timed(sc: Scenario, repeats: int) -> tuple[SimResult, float]:
    """The result and the best wall time of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = simulate(sc)
        best = min(best, time.perf_counter() - t0)
    return res, best


def repeats_for(n: int) -> int:
    return 3 if n <= 10_000 else 1


def row(label: str, replicas: int, res: SimResult, wall: float, summary: dict[str, Any]) -> str:
    n = res.requests.n
    return (
        f"{label:<22}{replicas:>9}{n:>10,}{res.scenario.workload.rate_per_s:>10.1f}"
        f"{res.end_s:>12,.0f}{wall:>10.2f}{n / wall:>12,.0f}{wall / n * 1e6:>10.1f}"
        f"{summary['capacity_utilization']:>8.0%}{summary['requests_in_flight']:>8}"
    )


HEADER = (
    f"{'case':<22}{'replicas':>9}{'requests':>10}{'rate/s':>10}{'sim s':>12}{'wall s':>10}"
    f"{'req/wall-s':>12}{'us/req':>10}{'load':>8}{'left':>8}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 1k and 10k sizes")
    parser.add_argument("--load", type=float, default=0.6, help="target share of capacity")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    simulate(chat_scenario(1, 50, args.load, args.seed))  # load the compiled kernels

    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    print(HEADER)
    print("-" * len(HEADER))
    per_request: dict[int, float] = {}
    last: SimResult | None = None
    by_replicas: dict[int, tuple[SimResult, float]] = {}
    for n in sizes:
        res, wall = timed(chat_scenario(8, n, args.load, args.seed), repeats_for(n))
        per_request[n] = wall / n
        print(row(f"size {n:,}", 8, res, wall, summarize(res)))
        last = res
        if n == 10_000:
            by_replicas[8] = (res, wall)
    print()
    for r in (1, 2, 4, 8):
        res, wall = by_replicas.get(r) or timed(
            chat_scenario(r, 10_000, args.load, args.seed), repeats_for(10_000)
        )
        print(row(f"10k on {r} replicas", r, res, wall, summarize(res)))
    assert last is not None
    t0 = time.perf_counter()
    summarize(last)
    t_summary = time.perf_counter() - t0
    largest = max(sizes)
    print()
    print(
        f"per-request cost at {largest:,} vs 1,000 requests: "
        f"{per_request[largest] / per_request[1_000]:.2f}x (1.00 = linear)"
    )
    print(f"summarize() of the {largest:,}-request run: {t_summary * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
