"""Benchmark logs for calibration tests, in vLLM's result-JSON format: simulated by simplan
itself (with known factors, for round trips), or written from published measurements."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from simplan.metrics import COMPLETED, request_table
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate


def _stats(name: str, values_s: np.ndarray) -> dict[str, float]:
    ms = values_s[np.isfinite(values_s)] * 1e3
    return {
        f"mean_{name}_ms": float(ms.mean()),
        f"median_{name}_ms": float(np.median(ms)),
        f"p99_{name}_ms": float(np.percentile(ms, 99)),
    }


def simulated_vllm_log(scenario: dict[str, Any], *, per_request: bool = True) -> dict[str, Any]:
    """A vLLM ``--save-result`` JSON for a simulated run of ``scenario`` (a dict)."""
    res = simulate(scenario_from_dict(scenario))
    r = res.requests
    done = r.column("status") == COMPLETED
    table = request_table(res)
    ins = r.column("input_tokens")[done]
    outs = r.column("output_tokens")[done]
    duration = float(r.column("finish_s")[done].max() - r.column("arrival_s").min())
    w = scenario["workload"]
    rate = w.get("rate_per_s") if w["arrival"] in ("poisson", "gamma") else "inf"
    log: dict[str, Any] = {
        "date": "20261201-000000",
        "backend": "vllm",
        "model_id": "simulated/" + scenario["model"]["name"],
        "num_prompts": int(done.sum()),
        "request_rate": rate,
        "burstiness": 1.0,
        "max_concurrency": w.get("concurrency"),
        "duration": duration,
        "completed": int(done.sum()),
        "total_input_tokens": int(ins.sum()),
        "total_output_tokens": int(outs.sum()),
        "request_throughput": float(done.sum() / duration),
        "output_throughput": float(outs.sum() / duration),
        **_stats("ttft", table["ttft_s"][done]),
        **_stats("tpot", table["tpot_s"][done]),
        **_stats("e2el", table["e2e_s"][done]),
    }
    if per_request:
        log["input_lens"] = [int(x) for x in ins]
        log["output_lens"] = [int(x) for x in outs]
    return log


#: The deployment of the round-trip test, as a scenario dict and as a scenario file (its
#: [workload] is required by the schema, not used by calibrate).
ROUND_TRIP_DEPLOYMENT = {"model": {"name": "llama-3.1-8b"}, "hardware": {"gpu": "h100-sxm"}}
ROUND_TRIP_TOML = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 1.0
duration_s = 10
"""
#: Loads that tell the calibration factors apart: an offline batch (compute), one stream
#: (weights read and host overhead per step), a long-context closed loop (KV reads), and
#: Poisson arrivals (used by the round-trip test and benchmarks/bench_calibrate.py).
ROUND_TRIP_LOADS: list[dict[str, Any]] = [
    {"arrival": "offline", "num_requests": 120, "input_tokens": 2000, "output_tokens": 200},
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
        "num_requests": 120,
        "input_tokens": 6000,
        "output_tokens": 300,
    },
    {
        "arrival": "poisson",
        "rate_per_s": 10.0,
        "num_requests": 200,
        "input_tokens": 1000,
        "output_tokens": 200,
    },
]


def write_logs(folder: Path, logs: list[dict[str, Any]]) -> list[Path]:
    """Write each log as ``run<i>.json`` in ``folder``."""
    paths = []
    for i, log in enumerate(logs):
        p = folder / f"run{i}.json"
        p.write_text(json.dumps(log), encoding="utf-8")
        paths.append(p)
    return paths


def inf_or(rate: float) -> float | str:
    return "inf" if math.isinf(rate) else rate


ACCELMARK = Path(__file__).parent / "data" / "accelmark_suite_c_a100.csv"
#: AccelMark's sharegpt_standard_v1: mean prompt from the dataset file, output p50 from
#: the suite's README (the mean is not published; natural EOS, at most 512 tokens).
ACCELMARK_INPUT_TOKENS = 236
ACCELMARK_OUTPUT_TOKENS = 310


def accelmark_logs(weights: str) -> dict[str, dict[str, Any]]:
    """The published AccelMark suite C runs of one weight format as vLLM result JSONs
    (trimmed: medians and throughput only, no per-request arrays), by load."""
    import csv

    runs: dict[str, dict[str, Any]] = {}
    with ACCELMARK.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["weights"] != weights:
                continue
            if row["load"] == "offline":
                load, rate, n = "offline", "inf", 100
            else:
                load, rate, n = f"{float(row['rate_per_s']):g}", float(row["rate_per_s"]), 900
            log = runs.setdefault(
                load,
                {
                    "backend": "vllm",
                    "model_id": "meta-llama/Llama-3.1-8B-Instruct",
                    "request_rate": rate,
                    "completed": n,
                    "total_input_tokens": n * ACCELMARK_INPUT_TOKENS,
                    "total_output_tokens": n * ACCELMARK_OUTPUT_TOKENS,
                },
            )
            value = float(row["value"])
            key = {
                "output_throughput_total": "output_throughput",
                "ttft_p50": "median_ttft_ms",
                "tpot_p50": "median_tpot_ms",
            }[row["metric"]]
            log[key] = value
    return runs


#: The runner's engine: vLLM 0.7.3 V0 (VLLM_USE_V1 defaults to 0), so with
#: max_model_len 4096 chunked prefill is off (arg_utils.py enables it by default only
#: above 32,768 tokens) and max_num_batched_tokens = max(max_model_len, 2048) = 4096
#: (config.py SchedulerConfig); read from the vllm-0.7.3 wheel on PyPI.
ACCELMARK_SCENARIO = """
[model]
name = "llama-3.1-8b"
weights = "{weights}"
[hardware]
gpu = "a100-sxm4-80gb"
[engine]
max_num_seqs = 512
gpu_memory_utilization = 0.90
max_num_batched_tokens = 4096
chunked_prefill = false
[workload]
rate_per_s = 1.0
duration_s = 10
"""
