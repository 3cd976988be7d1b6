"""What `simplan calibrate` costs beyond the simulations it needs.

Usage::

    python benchmarks/bench_calibrate.py [--requests 200]

Simulates four benchmark runs of Llama-3.1-8B on one H100 (offline, one stream, 32
long-context streams, Poisson at 10 req/s) as vLLM result JSONs, then times
``simplan.api.calibrate`` on them. The baseline, from the same run, is one simulation of
each run's scenario (what the fit repeats): the ratio is the calibrate time over the
number of simulated runs it reports times the mean time of one, so 1.0 means no
overhead beyond the simulations (scenario building, the least-squares algebra, the
plot). One calibration runs first so that numba's compiled kernels are loaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from simplan import api

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_logs import simulated_vllm_log, write_logs

DEPLOYMENT = {"model": {"name": "llama-3.1-8b"}, "hardware": {"gpu": "h100-sxm"}}
TOML = (
    '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "h100-sxm"\n'
    "[workload]\nrate_per_s = 1.0\nduration_s = 10\n"
)


def loads(n: int) -> list[dict]:
    return [
        {"arrival": "offline", "num_requests": n, "input_tokens": 2000, "output_tokens": 200},
        {
            "arrival": "closed",
            "concurrency": 1,
            "num_requests": 8,
            "input_tokens": 200,
            "output_tokens": 400,
        },
        {
            "arrival": "closed",
            "concurrency": 32,
            "num_requests": n,
            "input_tokens": 6000,
            "output_tokens": 300,
        },
        {
            "arrival": "poisson",
            "rate_per_s": 10.0,
            "num_requests": n,
            "input_tokens": 1000,
            "output_tokens": 200,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from simplan.benchlogs import read_logs
    from simplan.calibrate.runs import predict, run_scenario
    from simplan.scenario import read_scenario_dict

    engine = {"calibration": {"compute_efficiency_scale": 0.85, "iteration_overhead_s": 0.0013}}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        logs = [
            simulated_vllm_log({**DEPLOYMENT, "engine": engine, "workload": w}, per_request=False)
            for w in loads(args.requests)
        ]
        paths = write_logs(d, logs)
        (d / "dep.toml").write_text(TOML, encoding="utf-8")
        api.calibrate(paths[:2], scenario=d / "dep.toml", write=False)  # warm-up
        t0 = time.perf_counter()
        s = api.calibrate(paths, scenario=d / "dep.toml", output=d / "p.toml")
        t_cal = time.perf_counter() - t0
        raw = read_scenario_dict(d / "dep.toml")
        t0 = time.perf_counter()
        for run in read_logs(paths):
            predict(run_scenario(raw, "", run, None))
        t_one = (time.perf_counter() - t0) / len(paths)
    sims = s["simulations"]
    print(f"calibrate: {t_cal:.1f} s for {sims} simulated runs ({len(paths)} logs)")
    print(f"one simulated run (baseline): {t_one * 1e3:.0f} ms")
    print(f"ratio calibrate / (simulations x one run): {t_cal / (sims * t_one):.2f}")


if __name__ == "__main__":
    main()
