"""A server row (MLPerf's Server scenario): throughput at the highest Poisson rate whose
p99 TTFT and p99 TPOT meet the row's limits."""

from __future__ import annotations

from typing import Any

import pytest
from simplan.validate.predict import predict_row
from simplan.validate.rows import read_spec
from simplan.validate.server import BISECTIONS, highest_rate_meeting
from simplan.validate.wording import latency_limits_s


def _summary(rate: float, slo: dict[str, float]) -> dict[str, Any]:
    # a queue whose p99 TTFT grows as 1 / (1 - load) near a capacity of 10 requests/s,
    # judged as the one SLO evaluator judges the [slo] the search sets
    ttft, tpot = 0.1 / (1.0 - rate / 10.0), 0.02
    return {
        "slo_met": ttft <= slo["ttft_p99_s"] and tpot <= slo["tpot_p99_s"],
        "requests_rejected": 0,
        "rate": rate,
    }


def test_the_search_finds_the_highest_rate_within_the_limit() -> None:
    best = highest_rate_meeting(_summary, capacity_per_s=10.0, ttft_p99_s=0.5, tpot_p99_s=0.05)
    assert not isinstance(best, str)
    # 0.1 / (1 - r / 10) <= 0.5 holds up to r = 8: found to within 10 / 2**BISECTIONS
    assert 8.0 - 10.0 / 2**BISECTIONS <= best["rate"] <= 8.0


def test_a_limit_no_rate_meets_is_said() -> None:
    found = highest_rate_meeting(_summary, capacity_per_s=10.0, ttft_p99_s=0.5, tpot_p99_s=0.01)
    assert isinstance(found, str) and "p99 TPOT <= 0.01 s" in found


def test_server_limits_are_read_from_the_load_or_the_notes() -> None:
    assert latency_limits_s("Server: TTFT p99 <= 2 s, TPOT p99 <= 200 ms") == (2.0, 0.2)
    assert latency_limits_s("server ttft < 450ms tpot < 40ms") == (0.45, 0.04)
    assert latency_limits_s("server") is None


def _row(load: str) -> dict[str, str]:
    return {
        "source_id": "PROBE_SERVER",
        "model": "Llama-3.1-8B-Instruct",
        "gpu": "H100-SXM-80GB",
        "precision_weights": "fp8",
        "precision_kv": "fp8",
        "tp": "1",
        "n_gpus": "1",
        "batch_or_concurrency": load,
        "input_len": "1024",
        "output_len": "128",
        "metric": "output_throughput_total",
        "value": "1.0",
        "unit": "tokens/s",
        "rate_per_s": "",
        "engine": "TensorRT-LLM",
        "notes": "",
    }


def test_tighter_limits_serve_less_than_looser_ones_and_less_than_offline() -> None:
    spec = read_spec(_row("server (TTFT p99 <= 2000 ms, TPOT p99 <= 200 ms)"), "PROBE_SERVER")
    assert not isinstance(spec, str) and spec.shape == "slo_max_rate"
    cache: dict = {}
    offline = predict_row(_row("offline"), 2, cache=cache).predicted
    loose = predict_row(_row("server: TTFT p99 <= 2 s, TPOT p99 <= 200 ms"), 2, cache=cache)
    tight = predict_row(_row("server: TTFT p99 <= 300 ms, TPOT p99 <= 15 ms"), 2, cache=cache)
    assert offline is not None and loose.predicted is not None
    assert tight.predicted is not None, tight.skipped
    assert tight.predicted < loose.predicted <= offline * 1.01
    assert loose.predicted == pytest.approx(offline, rel=0.5)
