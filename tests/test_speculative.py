"""Speculative decoding: the expected-tokens formula, one request's exact times, what it
gains at batch 1 and at saturation, memory, the fast path against the simulation, and
the scenario's errors."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from simplan.engine_knobs import EngineKnobs
from simplan.errors import ScenarioError
from simplan.fit import replica_cfg
from simplan.kernels import layout as c
from simplan.kernels import step_time_s
from simplan.kernels.grid import max_rate
from simplan.kernels.memory import kv_capacity_tokens, weight_bytes_per_gpu
from simplan.kernels.speculative import (
    decode_iterations,
    expected_tokens_per_step,
    tokens_per_step,
)
from simplan.latency_model import ReplicaModel, column
from simplan.metrics import request_table, summarize
from simplan.perf import replica_from_ids
from simplan.recorder import COMPLETED
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate
from simplan.speculative import SpecKnobs

MODEL, GPU = "llama-3.1-8b", "h100-sxm"
EAGLE = {"method": "eagle", "num_speculative_tokens": 3, "acceptance_rate": 0.7}


def cfg_with(spec: SpecKnobs | None, model: str = MODEL, tp: int = 1) -> np.ndarray:
    return replica_from_ids(model, GPU, tp=tp, engine=EngineKnobs(speculative=spec)).cfg


def scenario(speculative: dict[str, Any] | None, **workload: Any) -> Any:
    engine: dict[str, Any] = {"router": "round_robin"}
    if speculative is not None:
        engine["speculative"] = speculative
    return scenario_from_dict(
        {
            "model": {"name": MODEL},
            "hardware": {"gpu": GPU},
            "engine": engine,
            "workload": {"input_tokens": 512, "output_tokens": 256, **workload},
            "simulation": {"seed": 1},
        }
    )


@pytest.mark.parametrize(
    ("k", "a", "want"),
    [(0, 0.9, 1.0), (3, 0.0, 1.0), (3, 1.0, 4.0), (1, 0.85, 1.85), (3, 0.7, 2.533)],
)
def test_expected_tokens_per_step(k: int, a: float, want: float) -> None:
    assert expected_tokens_per_step(float(k), a) == pytest.approx(want, abs=1e-3)


def test_one_request_decodes_its_tokens_at_the_expected_rate(tmp_path: Path) -> None:
    """Exact times: the prefill yields the first token, then each verify iteration adds
    floor(carry + E) tokens; the request ends when all 101 are out."""
    trace = tmp_path / "trace.csv"
    trace.write_text("timestamp_s,input_tokens,output_tokens\n0.0,200,101\n", encoding="utf-8")
    sc = scenario(EAGLE, arrival="trace", trace=str(trace))
    res = simulate(sc)
    cfg = cfg_with(SpecKnobs("eagle", 3, 0.7))
    per_step = float(tokens_per_step(cfg))
    t = step_time_s(cfg, 200.0, 200 * 201 / 2.0, 1.0, 0.0, 0.0)
    assert res.requests.column("first_token_s")[0] == pytest.approx(t, rel=1e-12)
    kv, left, carry, iterations = 200, 100, 0.0, 0
    while left > 0:
        t += step_time_s(cfg, 0.0, 0.0, 0.0, 1.0, float(kv + 1))
        gained = min(math.floor(carry + per_step), left)
        carry = carry + per_step - math.floor(carry + per_step)
        kv, left, iterations = kv + gained, left - gained, iterations + 1
    assert iterations == math.ceil(100 / per_step)  # 40 iterations, not 100
    assert res.requests.column("finish_s")[0] == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize(("k", "a"), [(2, 0.6), (3, 0.7), (4, 0.75), (5, 0.85)])
def test_decode_iterations_average_the_engines_whole_token_rounding(k: int, a: float) -> None:
    """The fast model's decode iterations per request, averaged over answers of 20-300
    tokens, match the engine's banking (a sequence gains floor(carry + E) tokens a step and
    finishes when all are out); (O - 1) / E alone under-counts short answers."""
    cfg = cfg_with(SpecKnobs("eagle", k, a))
    per_step = float(tokens_per_step(cfg))
    lengths = range(20, 301)
    banked = []
    for o_tokens in lengths:
        left, carry, iterations = o_tokens - 1, 0.0, 0
        while left > 0:
            gained = min(math.floor(carry + per_step), left)
            carry = carry + per_step - math.floor(carry + per_step)
            left, iterations = left - gained, iterations + 1
        banked.append(iterations)
    fast = [decode_iterations(cfg, float(o)) for o in lengths]
    assert np.mean(fast) == pytest.approx(np.mean(banked), rel=0.01)
    # without the rounding the mean falls short by about half an iteration
    plain = [(o - 1) / per_step for o in lengths]
    assert np.mean(banked) - np.mean(plain) > 0.3 * (1 - 1 / per_step)
    # every answer needs at least one decode iteration after its first token
    assert decode_iterations(cfg, 2.0) == 1.0


def test_batch_one_tpot_falls_by_the_accepted_tokens_less_the_overhead() -> None:
    off = simulate(scenario(None, rate_per_s=0.2, num_requests=40))
    on = simulate(scenario(EAGLE, rate_per_s=0.2, num_requests=40))
    tpot_off = np.nanmean(request_table(off)["tpot_s"])
    tpot_on = np.nanmean(request_table(on)["tpot_s"])
    per_step = expected_tokens_per_step(3.0, 0.7)
    speedup = tpot_off / tpot_on
    # the verify pass is nearly free at batch 1 (memory-bound); three draft steps of one
    # layer and the LM head cost 10-35% of a target step on an 8B model
    assert per_step / 1.35 < speedup < per_step / 1.10


def test_gain_shrinks_as_decode_turns_compute_bound() -> None:
    off = cfg_with(None)
    on = cfg_with(SpecKnobs("eagle", 3, 0.7))
    per_step = expected_tokens_per_step(3.0, 0.7)

    def gain(batch: float) -> float:
        # short contexts: reading the KV cache (which verifying does not multiply) would
        # keep long-context decodes memory-bound
        ctx = batch * 200.0
        t_off = step_time_s(off, 0.0, 0.0, 0.0, batch, ctx)
        return per_step * t_off / step_time_s(on, 0.0, 0.0, 0.0, batch, ctx)

    gains = [gain(b) for b in (1.0, 16.0, 64.0, 256.0, 1024.0)]
    assert gains[0] > 1.8
    assert all(later < earlier for earlier, later in itertools.pairwise(gains))
    assert gains[3] < 0.75 * gains[0]
    assert gains[4] < 1.0  # at batch 1024 the 4x taller GEMMs cost more than they save
    # capacity (the most requests per second under the batch limit) gains less than the
    # batch-1 token rate
    r_off = max_rate(off, 512.0, 256.0)
    r_on = max_rate(on, 512.0, 256.0)
    assert r_on / r_off < gains[0]


def test_ngram_with_nothing_accepted_only_costs() -> None:
    off = cfg_with(None)
    ngram = cfg_with(SpecKnobs("ngram", 4, 0.0))
    assert tokens_per_step(ngram) == 1.0
    t_off = step_time_s(off, 0.0, 0.0, 0.0, 32.0, 32_000.0)
    t_on = step_time_s(ngram, 0.0, 0.0, 0.0, 32.0, 32_000.0)
    assert t_on > t_off


def test_drafter_takes_memory() -> None:
    off = cfg_with(None, model="llama-3.1-70b", tp=4)
    draft = cfg_with(
        SpecKnobs("draft_model", 4, 0.6, api_model("llama-3.1-8b")), model="llama-3.1-70b", tp=4
    )
    extra = weight_bytes_per_gpu(draft) - weight_bytes_per_gpu(off)
    # 8.03 B parameters in 16 bits over four GPUs
    assert extra == pytest.approx(8.03e9 * 2 / 4, rel=0.02)
    assert kv_capacity_tokens(draft) < kv_capacity_tokens(off)
    assert draft[c.DRAFT_KIND] == 3


def api_model(name: str) -> Any:
    from simplan import catalog

    return catalog.model(name)


def test_kv_stays_within_capacity_under_load() -> None:
    sc = scenario(
        EAGLE | {"num_speculative_tokens": 5},
        rate_per_s=60.0,
        num_requests=1500,
        input_tokens={"distribution": "lognormal", "mean": 2000, "std": 1500},
        output_tokens={"distribution": "lognormal", "mean": 800, "std": 600},
    )
    res = simulate(sc)
    e = res.engines[0]
    occupancy = res.series.array("kv_blocks_used") / e.total_blocks
    assert occupancy.max() <= 1.0
    assert (res.requests.column("status") == COMPLETED).all()
    # arrivals cut decode runs thousands of times; banked fractions keep the yield at E
    per_step = e.decoded_tokens / e.decode_steps
    assert per_step == pytest.approx(expected_tokens_per_step(5.0, 0.7), rel=0.02)
    assert int(res.requests.column("generated").sum()) == int(
        res.requests.column("output_tokens").sum()
    )


def test_fast_path_matches_the_simulation_with_speculation() -> None:
    sc = scenario(EAGLE, rate_per_s=12.0, num_requests=2500)
    sim = summarize(simulate(sc))
    fast = ReplicaModel.of(replica_cfg(sc)[0], sc).at_rate(12.0)
    assert fast[column("tpot_mean_s")] == pytest.approx(sim["tpot_s"]["mean"], rel=0.15)
    assert fast[column("tpot_p95_s")] == pytest.approx(sim["tpot_s"]["p95"], rel=0.25)
    assert fast[column("ttft_p95_s")] == pytest.approx(sim["ttft_s"]["p95"], rel=0.35)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"method": "draft_model", "num_speculative_tokens": 3, "acceptance_rate": 0.6}, "draft"),
        ({"method": "eagle", "num_speculative_tokens": 3, "acceptance_rate": 1.5}, "acceptance"),
        ({"method": "medusa", "num_speculative_tokens": 3, "acceptance_rate": 0.5}, "method"),
    ],
)
def test_bad_speculative_tables_are_named(spec: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(spec, rate_per_s=1.0, num_requests=10)
    assert "speculative" in str(info.value)
    assert where in str(info.value)


def test_plan_tries_each_draft_length_as_a_candidate() -> None:
    """An [engine] list axis of [sweep] is a plan option: each value is a candidate, and
    on a tight TPOT objective a speculating replica holds it to a much higher rate than
    plain decoding (so never needs more replicas)."""
    from simplan import api

    root = Path(__file__).resolve().parent.parent
    result = api.plan(
        root / "scenarios" / "speculative_decoding.toml",
        gpus=["h100-sxm"],
        weights=["fp8"],
        verify_candidates=0,
        top=10,
    )
    key = "engine.speculative.num_speculative_tokens"
    fleets = [result["recommended"], *result["runners_up"]]
    by_k = {c["options"][key]: c["replicas"] for c in fleets}
    rate = {c["options"][key]: c["replica_rate_under_slo_per_s"] for c in fleets}
    assert sorted(by_k) == [0, 3, 5]
    assert rate[3] > 1.5 * rate[0] and rate[5] > 1.5 * rate[0]
    assert by_k[3] <= by_k[0]
    assert result["recommended"]["options"][key] > 0


def test_no_best_case_note_for_an_slo_speculation_meets() -> None:
    """The idle-replica best case counts the tokens a verify step yields."""
    sc = scenario_from_dict(
        {
            "model": {"name": MODEL, "weights": "fp8"},
            "hardware": {"gpu": GPU},
            "engine": {"speculative": EAGLE | {"acceptance_rate": 0.8}},
            "workload": {"rate_per_s": 0.5, "num_requests": 40},
            "slo": {"tpot_p95_s": 0.004},
        }
    )
    s = summarize(simulate(sc))
    assert s["slo_met"] is True
    assert not any("best case" in n for n in s["notes"])


def test_plan_refuses_a_table_valued_option_axis(tmp_path: Path) -> None:
    from simplan import api

    path = tmp_path / "s.toml"
    path.write_text(
        '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "h100-sxm"\n'
        "[workload]\nrate_per_s = 2\nnum_requests = 100\n[sweep]\n"
        '"engine.speculative" = [{method = "eagle", num_speculative_tokens = 2, '
        "acceptance_rate = 0.5}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as info:
        api.plan(path, verify_candidates=0)
    assert 'sweep."engine.speculative"' in str(info.value)


def test_speculation_with_pipeline_parallelism_is_noted() -> None:
    knobs = EngineKnobs(speculative=SpecKnobs("eagle", 2, 0.6))
    staged = replica_from_ids("llama-3.1-70b", GPU, "fp8", tp=2, pp=2, engine=knobs)
    assert any("pp > 1" in n for n in staged.notes)
    assert not replica_from_ids("llama-3.1-70b", GPU, "fp8", tp=2, engine=knobs).notes
