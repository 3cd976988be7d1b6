"""What checking a plan by simulation costs: ``simplan plan`` with and without it.

Usage::

    python benchmarks/bench_plan.py [--repeat 2] [SCENARIO ...]

For each scenario (default: ``scenarios/plan_chat_70b.toml``) it times the plan ranked by
the fast model alone (``verify_candidates=0``, the baseline) and the plan whose cheapest
configurations are simulated with three seeds (the default, 3), best of ``--repeat``
runs each (time.perf_counter), and prints the ratio. With ``--workers N`` it also times
the verified plan with every check's seeds in parallel on a local Dask cluster of N
processes (cluster start-up included, as a user pays it) and checks that the plan is the
same. One plan runs first so that numba's compiled kernels are loaded, not timed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from simplan import api

ROOT = Path(__file__).resolve().parent.parent


def best_of(repeat: int, path: Path, verify: int, workers: int | None = None) -> tuple[float, dict]:
    times, result = [], {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = api.plan(path, verify_candidates=verify, workers=workers)
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, help="also time seeds in parallel on Dask")
    args = parser.parse_args()
    paths = args.scenarios or [ROOT / "scenarios" / "plan_chat_70b.toml"]
    api.plan(paths[0], verify_candidates=0)  # load the compiled kernels
    print(
        f"{'scenario':<32} {'fast only':>10} {'verified':>10} {'ratio':>7}  "
        + (f"{'parallel':>10} {'vs seq':>7}  " if args.workers else "")
        + "pick (fast -> verified)"
    )
    for path in paths:
        t_fast, fast = best_of(args.repeat, path, 0)
        t_ver, ver = best_of(args.repeat, path, 3)
        parallel = ""
        if args.workers:
            t_par, par = best_of(args.repeat, path, 3, args.workers)
            assert par == ver, "seeds in parallel changed the plan"
            parallel = f"{t_par:>9.2f}s {t_par / t_ver:>6.2f}x  "

        def pick(r: dict) -> str:
            b = r.get("recommended")
            if not b:
                return "none"
            return f"{b['replicas']}x {b['gpu']} tp{b['tp']} {b['weights']} {b['pricing']}"

        print(
            f"{path.stem:<32} {t_fast:>9.2f}s {t_ver:>9.2f}s {t_ver / t_fast:>6.1f}x  "
            f"{parallel}{pick(fast)} -> {pick(ver)}"
        )


if __name__ == "__main__":
    main()
