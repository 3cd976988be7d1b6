"""What `simplan calibrate` costs beyond the simulations it needs.

Usage::

    python benchmarks/bench_calibrate.py

Simulates the round-trip test's four benchmark runs of Llama-3.1-8B on one H100
(``bench_logs.ROUND_TRIP_LOADS``: offline, one stream, 32 long-context streams, Poisson at
10 req/s) as vLLM result JSONs, then times ``simplan.api.calibrate`` on them. The
baseline, from the same run, is the time ``calibrate`` spends in the simulations
themselves (its ``predict`` calls, timed): the ratio is the whole call over that, so 1.0
means nothing but simulation (scenario building, the least-squares algebra, the
leave-one-out bookkeeping and the plot make the rest). One calibration runs first so
that numba's compiled kernels are loaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from simplan import api

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_logs import (
    ROUND_TRIP_DEPLOYMENT,
    ROUND_TRIP_LOADS,
    ROUND_TRIP_TOML,
    simulated_vllm_log,
    write_logs,
)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import simplan.calibrate as cal

    engine = {"calibration": {"compute_efficiency_scale": 0.85, "iteration_overhead_s": 0.0013}}
    simulating = [0.0, 0]

    def timed_predict(scenario: Any) -> dict[str, float]:
        t0 = time.perf_counter()
        try:
            return predict(scenario)
        finally:
            simulating[0] += time.perf_counter() - t0
            simulating[1] += 1

    predict = cal.predict
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        logs = [
            simulated_vllm_log(
                {**ROUND_TRIP_DEPLOYMENT, "engine": engine, "workload": w}, per_request=False
            )
            for w in ROUND_TRIP_LOADS
        ]
        paths = write_logs(d, logs)
        (d / "dep.toml").write_text(ROUND_TRIP_TOML, encoding="utf-8")
        api.calibrate(paths[:2], scenario=d / "dep.toml", write=False)  # warm-up
        cal.predict = timed_predict  # type: ignore[assignment]
        try:
            t0 = time.perf_counter()
            api.calibrate(paths, scenario=d / "dep.toml", output=d / "p.toml")
            total = time.perf_counter() - t0
        finally:
            cal.predict = predict  # type: ignore[assignment]
    print(
        f"calibrate: {total:.1f} s, of which {simulating[1]} simulated runs {simulating[0]:.1f} s"
    )
    print(f"ratio calibrate / its simulations: {total / simulating[0]:.2f}")


if __name__ == "__main__":
    main()
