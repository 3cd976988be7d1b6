"""Reasoning workloads: hidden reasoning tokens are decoded like output, counted in TPOT
and e2e, billed as output, and the answer's first token comes after them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from simplan.errors import ScenarioError
from simplan.latency_model import shapes
from simplan.metrics import request_table, summarize
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate
from simplan.workload import mean_lengths


def scenario(**workload: Any) -> Any:
    return scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "h100-sxm"},
            "workload": {"rate_per_s": 2.0, "num_requests": 200, **workload},
            "pricing": {"apis": ["gpt-4o-mini", "gpt-4o"]},
            "simulation": {"seed": 5},
        }
    )


REASONING = {"distribution": "lognormal", "mean": 600, "std": 400, "max": 4000}


def test_reasoning_is_generated_before_the_answer_and_counted_everywhere() -> None:
    sc = scenario(input_tokens=400, output_tokens=120, reasoning_tokens=REASONING)
    res = simulate(sc)
    r = res.requests
    hidden = r.column("reasoning_tokens")
    assert (hidden > 0).all()
    # every generated token is decoded: the answer plus the reasoning before it
    assert np.array_equal(r.column("output_tokens"), 120 + hidden)
    assert np.array_equal(r.column("generated"), r.column("output_tokens"))
    table = request_table(res)
    # the first visible token comes R tokens after the first, at the request's own pace
    want = table["ttft_s"] + hidden * table["tpot_s"]
    np.testing.assert_allclose(table["ttfvt_s"], want, rtol=1e-12)
    s = summarize(res)
    assert s["ttfvt_p50_s"] > 10 * s["ttft_s"]["p50"]
    assert s["reasoning_tokens_per_request"] == pytest.approx(float(hidden.mean()))


def test_without_reasoning_nothing_changes() -> None:
    plain = summarize(simulate(scenario(input_tokens=400, output_tokens=120)))
    assert "ttfvt_mean_s" not in plain
    assert "reasoning_tokens_per_request" not in plain


def test_apis_bill_reasoning_as_output() -> None:
    """A fixed 300 reasoning + 100 answer tokens costs what 400 answer tokens cost."""
    hidden = summarize(
        simulate(scenario(input_tokens=400, output_tokens=100, reasoning_tokens=300))
    )
    visible = summarize(simulate(scenario(input_tokens=400, output_tokens=400)))
    for api in ("gpt-4o-mini", "gpt-4o"):
        assert hidden["api"][api]["monthly_cost_usd"] == pytest.approx(
            visible["api"][api]["monthly_cost_usd"], rel=1e-9
        )
    assert hidden["output_tokens_per_s"] == pytest.approx(visible["output_tokens_per_s"])


def test_fast_path_counts_reasoning_as_decode_work() -> None:
    sc = scenario(input_tokens=400, output_tokens=100, reasoning_tokens=300)
    assert mean_lengths(sc) == (400.0, 400.0)
    sh = shapes([sc])
    assert np.all(sh.o_pts == 400.0)
    varied = scenario(input_tokens=400, output_tokens=100, reasoning_tokens=REASONING)
    # the sum of two independent lengths: its quantiles spread over both
    assert shapes([varied]).o_pts.mean() == pytest.approx(100 + 600, rel=0.03)


def test_reasoning_with_a_trace_is_refused(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp_s,input_tokens,output_tokens\n0,10,10\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        scenario(arrival="trace", trace=str(trace), reasoning_tokens=100)
    assert "reasoning_tokens" in str(info.value)


def test_reasoning_longer_than_the_context_is_refused_up_front() -> None:
    from simplan.errors import ContextError
    from simplan.feasibility import check_workload

    sc = scenario(input_tokens=1000, output_tokens=1000, reasoning_tokens=140_000)
    with pytest.raises(ContextError) as info:
        check_workload(sc)
    assert "reasoning_tokens" in str(info.value)
