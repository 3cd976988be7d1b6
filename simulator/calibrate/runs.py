"""A benchmark run as a scenario: the deployment from the user's scenario file, the load
and lengths from the log, and what simplan's simulation predicts for the measured fields.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from simplan.benchlogs import LATENCY_METRICS, STATS, THROUGHPUT, BenchRun
from simplan.metrics import summarize
from simplan.scenario import Scenario
from simplan.scenario.overrides import trial_scenario
from simplan.sim import simulate

#: The most requests a rate-driven benchmark run is simulated with during a fit (its
#: latency statistics settle within a few hundred requests; the fit simulates each run
#: dozens of times). Runs that send everything at once are simulated whole.
MAX_SIMULATED_REQUESTS = 1000


#: The most requests an all-at-once run is simulated with. Its throughput settles once the
#: drain at the end is a small part of the run; beyond this the fit would take hours.
MAX_OFFLINE_REQUESTS = 10_000


def write_lengths(run: BenchRun, path: Path) -> bool:
    """Write a run's per-request lengths as a CSV simplan samples from; False if it has none."""
    if run.input_lens is None or run.output_lens is None:
        return False
    if run.input_lens.size != run.output_lens.size:
        return False
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["input_tokens", "output_tokens"])
        for i, o in zip(run.input_lens, run.output_lens, strict=True):
            w.writerow([max(round(i), 1), max(round(o), 1)])
    return True


def workload_of(run: BenchRun, lengths_csv: Path | None, max_requests: int) -> dict[str, Any]:
    """The ``[workload]`` table that reproduces a run: its arrival process and lengths.

    vLLM's ``request_rate = inf`` sends every request at once (``offline``), or keeps
    ``max_concurrency`` requests in flight (``closed``, no think time). A finite rate is
    Poisson, or gamma when vLLM's ``burstiness`` (the gamma shape, so the squared
    coefficient of variation is ``1 / burstiness``) is not 1. A concurrency cap on a
    rate-driven run is not modelled (it only binds when the server falls behind).
    """
    w: dict[str, Any] = {"num_requests": max(1, min(run.completed, max_requests))}
    if math.isinf(run.request_rate_per_s):
        # The whole run is one draining batch: fewer requests would be another benchmark
        # (its throughput depends on how many there are), so none are left out; a closed
        # loop keeps at least ten requests per user so its start and drain stay small.
        if run.max_concurrency:
            w.update(arrival="closed", concurrency=run.max_concurrency)
            w["num_requests"] = min(run.completed, max(max_requests, 10 * run.max_concurrency))
        else:
            w.update(arrival="offline", num_requests=min(run.completed, MAX_OFFLINE_REQUESTS))
    else:
        w["rate_per_s"] = run.request_rate_per_s
        if math.isinf(run.burstiness):
            w["arrival"] = "constant"
        elif abs(run.burstiness - 1.0) > 1e-9:
            w.update(arrival="gamma", burstiness=1.0 / run.burstiness)
        else:
            w["arrival"] = "poisson"
    if lengths_csv is not None:
        for key in ("input_tokens", "output_tokens"):
            w[key] = {"distribution": "empirical", "path": str(lengths_csv), "column": key}
    else:
        w["input_tokens"] = max(1, round(run.mean_input_tokens))
        w["output_tokens"] = max(1, round(run.mean_output_tokens))
    return w


def run_scenario(
    raw: dict[str, Any],
    source: str,
    run: BenchRun,
    factors: dict[str, float] | None,
    lengths_csv: Path | None = None,
    max_requests: int = MAX_SIMULATED_REQUESTS,
    seed_offset: int = 0,
) -> Scenario:
    """The scenario of one benchmark run on the deployment ``raw`` describes.

    Objectives, autoscaling, failures and overflow are dropped (a benchmark measures a
    fixed fleet); ``factors`` replaces the scenario's calibration when given.
    """
    overrides: dict[str, Any] = {
        "workload": workload_of(run, lengths_csv, max_requests),
        "slo": None,
        "autoscaling": None,
        "failures": None,
        "overflow": None,
        "simulation.warmup_s": 0.0,
    }
    if seed_offset:
        seed = int(raw.get("simulation", {}).get("seed", 0))
        overrides["simulation.seed"] = (seed + seed_offset) % 2**63
    if factors is not None:
        overrides["engine.calibration"] = dict(factors)
    return trial_scenario(raw, overrides, source)


def predict(scenario: Scenario) -> dict[str, float]:
    """Simulate a run's scenario: ``<metric>_<stat>_s`` latencies and output tokens/s."""
    s = summarize(simulate(scenario))
    out = {THROUGHPUT: float(s.get("output_tokens_per_s") or math.nan)}
    for metric in LATENCY_METRICS:
        stats = s.get(f"{metric}_s") or {}
        for stat in STATS:
            v = stats.get(stat)
            out[f"{metric}_{stat}_s"] = float(v) if v is not None else math.nan
    return out


def evidence(run: BenchRun) -> list[str]:
    """The measured fields of a run that say something about the deployment.

    Throughput counts only for runs that keep the server full (every request at once, or
    a concurrency): at a request rate it is the offered load, whatever the deployment.
    """
    keys = [k for k in run.measured if k != THROUGHPUT]
    if THROUGHPUT in run.measured and math.isinf(run.request_rate_per_s):
        keys.append(THROUGHPUT)
    return keys
