"""Exact-time tests of one replica's engine, in simpy's style: every event at the time the
roofline step times say, to floating-point accuracy.

Arrivals come from a trace in seconds, so each request arrives when the test says. The
expected times are sums of :func:`simplan.kernels.step_time_s` over the iterations the
engine must run (vLLM's continuous batching: a prompt's prefill yields its first token;
each decode iteration writes one token per running sequence, whose attention reads the
tokens already in the cache plus the one being written).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from simplan.kernels import step_time_s
from simplan.perf import replica_from_ids
from simplan.scenario import scenario_from_dict
from simplan.sim import SimResult, simulate

MODEL, GPU = "llama-3.1-8b", "a100-sxm4-80gb"
CFG = replica_from_ids(MODEL, GPU, "fp16", "fp16", tp=1).cfg


def prefill_s(tokens: int, decodes: int = 0, decode_ctx: float = 0.0) -> float:
    """One iteration with a whole prompt of ``tokens`` (and ``decodes`` running sequences)."""
    pairs = tokens * (tokens + 1) / 2.0
    return step_time_s(CFG, float(tokens), pairs, 1.0, float(decodes), decode_ctx)


def decode_s(contexts: list[int]) -> float:
    """One decode iteration; ``contexts`` are the tokens each sequence holds after it."""
    return step_time_s(CFG, 0.0, 0.0, 0.0, float(len(contexts)), float(sum(contexts)))


def run_trace(tmp_path: Path, rows: list[tuple[float, int, int]]) -> SimResult:
    trace = tmp_path / "trace.csv"
    lines = ["timestamp_s,input_tokens,output_tokens"]
    lines += [f"{t!r},{i},{o}" for t, i, o in rows]
    trace.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sc = scenario_from_dict(
        {
            "model": {"name": MODEL, "weights": "fp16"},
            "hardware": {"gpu": GPU},
            "engine": {"router": "round_robin"},
            "workload": {"arrival": "trace", "trace": str(trace)},
        }
    )
    return simulate(sc)


def times(res: SimResult, column: str) -> np.ndarray:
    return res.requests.column(column).astype(float)


def test_one_request_first_token_is_its_prefill_and_each_token_a_decode_step(
    tmp_path: Path,
) -> None:
    res = run_trace(tmp_path, [(0.0, 1000, 5)])
    ttft = prefill_s(1000)
    # after the prefill the cache holds the prompt; decode j writes token 1000 + j
    e2e = ttft + sum(decode_s([1000 + j]) for j in range(1, 5))
    assert times(res, "first_token_s")[0] == pytest.approx(ttft, rel=1e-12)
    assert times(res, "finish_s")[0] == pytest.approx(e2e, rel=1e-12)


def test_an_arrival_cuts_a_decode_run_at_the_next_iteration_boundary(tmp_path: Path) -> None:
    # A decodes 100 tokens; B arrives in the middle of A's 6th decode iteration
    t_a0 = prefill_s(500)
    ends = t_a0 + np.cumsum([decode_s([500 + j]) for j in range(1, 100)])
    arrive_b = float(ends[4] + 0.5 * (ends[5] - ends[4]))
    res = run_trace(tmp_path, [(0.0, 500, 100), (arrive_b, 200, 3)])
    # B is admitted when A's 6th iteration ends, then its prompt runs beside A's decode
    # (chunked prefill): A holds 506 tokens and writes its 507th
    boundary = float(ends[5])
    mixed = prefill_s(200, decodes=1, decode_ctx=507.0)
    assert times(res, "scheduled_s")[1] == pytest.approx(boundary, rel=1e-12)
    assert times(res, "first_token_s")[1] == pytest.approx(boundary + mixed, rel=1e-12)
    # then both decode together until B finishes (its 2 remaining tokens)
    b_done = boundary + mixed + decode_s([508, 201]) + decode_s([509, 202])
    assert times(res, "finish_s")[1] == pytest.approx(b_done, rel=1e-12)
    # A's 100 tokens: 6 alone, 1 in the mixed step, 2 beside B, the last 90 alone again
    a_done = b_done + sum(decode_s([509 + j]) for j in range(1, 91))
    assert times(res, "finish_s")[0] == pytest.approx(a_done, rel=1e-12)


def test_an_arrival_at_an_idle_replica_starts_at_once(tmp_path: Path) -> None:
    res = run_trace(tmp_path, [(0.0, 300, 2), (50.0, 300, 2)])
    one = prefill_s(300) + decode_s([301])
    assert times(res, "finish_s").tolist() == pytest.approx([one, 50.0 + one], rel=1e-12)
    assert times(res, "scheduled_s").tolist() == [0.0, 50.0]


def test_vllm_v0_delivers_the_first_token_when_the_next_step_ends(tmp_path: Path) -> None:
    # vLLM V0's async output processing: a step's tokens are processed while the next
    # step runs, so the first token reaches the client one iteration after its prefill;
    # the GPU's schedule (and so the finish) is the same as without it.
    from simplan.fit import replica_cfg

    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp_s,input_tokens,output_tokens\n0.0,1000,5\n", encoding="utf-8")

    def scenario(engine: dict[str, object]) -> object:
        return scenario_from_dict(
            {
                "model": {"name": MODEL, "weights": "fp16"},
                "hardware": {"gpu": GPU},
                "engine": {"router": "round_robin", **engine},
                "workload": {"arrival": "trace", "trace": str(trace)},
            }
        )

    v0 = scenario({"version": "v0"})
    cfg, _ = replica_cfg(v0)
    prefill = step_time_s(cfg, 1000.0, 1000 * 1001 / 2.0, 1.0, 0.0, 0.0)
    decodes = [step_time_s(cfg, 0.0, 0.0, 0.0, 1.0, float(1000 + j)) for j in range(1, 5)]
    res = simulate(v0)
    assert times(res, "first_token_s")[0] == pytest.approx(prefill + decodes[0], rel=1e-12)
    assert times(res, "finish_s")[0] == pytest.approx(prefill + sum(decodes), rel=1e-12)
    # pipeline parallelism turns async output processing off (vllm/config.py, v0.7.3)
    assert not v0.engine.async_output_lag(2)
    assert not scenario({}).engine.async_output_lag(1)  # the V1 engine: no lag
    # speculation turns it off; a sweep's 0 draft tokens is speculation off
    spec = {"method": "eagle", "acceptance_rate": 0.7}
    eagle = scenario({"version": "v0", "speculative": {**spec, "num_speculative_tokens": 3}})
    none = scenario({"version": "v0", "speculative": {**spec, "num_speculative_tokens": 0}})
    assert not eagle.engine.async_output_lag(1) and none.engine.async_output_lag(1)


def test_vllm_v0_one_token_answer_arrives_with_its_prefill(tmp_path: Path) -> None:
    # nothing follows a one-token answer's prefill: its only token is its last
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp_s,input_tokens,output_tokens\n0.0,1000,1\n", encoding="utf-8")
    sc = scenario_from_dict(
        {
            "model": {"name": MODEL, "weights": "fp16"},
            "hardware": {"gpu": GPU},
            "engine": {"version": "v0"},
            "workload": {"arrival": "trace", "trace": str(trace)},
        }
    )
    res = simulate(sc)
    assert times(res, "first_token_s")[0] == times(res, "finish_s")[0]
