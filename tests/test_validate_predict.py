"""Published rows are predicted the way their source measured them."""

from __future__ import annotations

import pytest
from simplan import calibration
from simplan.engine_knobs import EngineKnobs
from simplan.kernels.batch import static_batch
from simplan.kernels.roofline import step_time_s
from simplan.perf import replica_from_ids
from simplan.validate import harness
from simplan.validate.predict import predict_row
from simplan.validate.rows import read_spec


def _lmdeploy(batch: int, inp: int, out: int, metric: str, mem_gib: str) -> dict[str, str]:
    """A row of LMDeploy v0.1's A100 table, Llama-2-13B, as the CSV holds it."""
    return {
        "source_id": "LMDEPLOY_A100",
        "model": "Llama-2-13B",
        "params_b": "13",
        "precision_weights": "fp16",
        "precision_kv": "fp16",
        "gpu": "A100-80GB",
        "n_gpus": "1",
        "tp": "1",
        "batch_or_concurrency": str(batch),
        "input_len": str(inp),
        "output_len": str(out),
        "metric": metric,
        "value": "1.0",
        "unit": "s" if metric != "output_throughput_total" else "tokens/s",
        "notes": f"LMDeploy TurboMind v0.1.0a1 static inference benchmark; mem(GB)={mem_gib}",
    }


def test_lmdeploy_rows_are_closed_loops_of_six_rounds_in_the_engines_memory() -> None:
    # profile_generation.py's --test-round default at the commit that published the
    # tables (ebe90bc9), whose benchmark scripts do not pass it
    spec = read_spec(_lmdeploy(64, 2048, 2048, "ttft_mean", "75.09"), "LMDEPLOY_A100")
    assert not isinstance(spec, str)
    assert spec.shape == "static" and spec.rounds == 6
    assert spec.engine_memory_gib == 75.09
    other = read_spec(_lmdeploy(64, 2048, 2048, "ttft_mean", "75.09"), "GPTFAST")
    assert not isinstance(other, str) and other.rounds == 0


def _static_ttft_s(batch: int, inp: int, out: int) -> float:
    replica = replica_from_ids("llama-2-13b", "a100-sxm4-80gb", "fp16", "fp16", 1, 1)
    return float(static_batch(replica.cfg, batch, inp, out)[0])


def _turbomind_steps_s(batch: int, inp: int) -> tuple[float, float]:
    """Llama-2-13B on one A100: the prefill of all but the last prompt token, and the
    decode step over the whole batch that takes the last one, from the step kernel."""
    cfg = replica_from_ids("llama-2-13b", "a100-sxm4-80gb", "fp16", "fp16", 1, 1).cfg
    new = inp - 1
    prefill_s = step_time_s(cfg, batch * new, batch * new * (new + 1) / 2, batch, 0, 0)
    return (prefill_s if new else 0.0), step_time_s(cfg, 0, 0, 0, batch, batch * inp)


def test_a_closed_loop_runs_as_its_clients_send(monkeypatch: pytest.MonkeyPatch) -> None:
    # 16 x (128 + 128) tokens fit many times over. Sent at once, the rounds would run in
    # lockstep as one static batch: TurboMind's first token comes from the decode step
    # after the prompts' prefill, and the simulated loop agrees with that closed form.
    raw = _lmdeploy(16, 128, 128, "ttft_mean", "75.87")
    sent_in_turn = predict_row(raw, 2).predicted
    real = calibration.constants
    monkeypatch.setattr(calibration, "constants", lambda: {**real(), "harness": {}})
    at_once = predict_row(raw, 2).predicted
    assert sent_in_turn is not None and at_once is not None
    prefill_s, step_s = _turbomind_steps_s(16, 128)
    assert at_once == pytest.approx(prefill_s + step_s, rel=0.02)
    # Sent one after another, the first request of the run is prefilled alone and the
    # rounds fall out of step: fewer requests wait for the whole batch's prefill.
    assert sent_in_turn < at_once


def test_turbomind_first_token_waits_for_a_decode_step() -> None:
    # A 1-token prompt has nothing to prefill: its first token is one decode step.
    one = predict_row(_lmdeploy(1, 1, 128, "ttft_mean", "76.55"), 2).predicted
    assert one == pytest.approx(_turbomind_steps_s(1, 1)[1], rel=1e-9)
    # The table: 40 ms for a 128-token prompt at batch 1, twice the 18 ms of a 1-token
    # one; a prefill that yielded the first token would predict about 28 ms.
    ttft = predict_row(_lmdeploy(1, 128, 128, "ttft_mean", "76.59"), 3).predicted
    assert ttft is not None and abs(ttft / 0.040 - 1) < 0.2
    assert ttft > 1.4 * _static_ttft_s(1, 128, 128)


def test_turbomind_prefills_with_the_gemms_its_benchmark_tuned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # LMDeploy's scripts tuned the GEMM algorithms before measuring: its compute-bound
    # prefill runs at the fitted multiple of the catalog's efficiencies, and no other
    # source's does
    scale = harness.compute_efficiency_scale("LMDEPLOY_A100")
    assert scale > 1.0
    assert harness.compute_efficiency_scale("GPTFAST") == 1.0
    raw = _lmdeploy(1, 2048, 128, "ttft_mean", "76.77")
    tuned = predict_row(raw, 2).predicted
    knobs = EngineKnobs(compute_efficiency_scale=scale)
    cfg = replica_from_ids("llama-2-13b", "a100-sxm4-80gb", "fp16", "fp16", 1, 1, knobs).cfg
    prefill_s = step_time_s(cfg, 2047, 2047 * 2048 / 2, 1, 0, 0)
    assert tuned == pytest.approx(prefill_s + step_time_s(cfg, 0, 0, 0, 1, 2048), rel=1e-9)
    real = calibration.constants
    monkeypatch.setattr(calibration, "constants", lambda: {**real(), "harness": {}})
    untuned = predict_row(raw, 2).predicted
    assert tuned is not None and untuned is not None and tuned < 0.9 * untuned


def test_turbomind_batches_spend_their_time_in_prefill_and_decode_steps() -> None:
    # generated tokens over (prefill + output_len decode steps) and the gaps between the
    # later tokens: what the closed form adds up must be the run's whole time
    rows = {
        m: predict_row(_lmdeploy(1, 128, 128, m, "76.59"), 2).predicted
        for m in ("ttft_mean", "itl_p50", "output_throughput_total")
    }
    ttft, tpot, tput = rows["ttft_mean"], rows["itl_p50"], rows["output_throughput_total"]
    assert ttft is not None and tpot is not None and tput is not None
    assert 128 / tput == pytest.approx(ttft + 127 * tpot, rel=1e-9)


def test_clients_whose_sequences_do_not_fit_wait_for_earlier_ones() -> None:
    # 64 x 4096 tokens of a 13B model need about 200 GiB of KV; the engine held 75 GiB
    # with 24 GiB of weights, so about a fifth of the clients run at once and the rest
    # wait whole answers (2048 steps) for room. The source measured 190 s mean first-token
    # latency against about 17 s for one static batch's prefill.
    cache: dict = {}
    ttft = predict_row(_lmdeploy(64, 2048, 2048, "ttft_mean", "75.09"), 2, cache=cache)
    assert ttft.predicted is not None
    assert ttft.predicted > 5 * _static_ttft_s(64, 2048, 2048)
    # fewer sequences per step: each token comes faster than in a 64-sequence batch
    itl = predict_row(_lmdeploy(64, 2048, 2048, "itl_p50", "75.09"), 3, cache=cache)
    replica = replica_from_ids("llama-2-13b", "a100-sxm4-80gb", "fp16", "fp16", 1, 1)
    full_batch_tpot = float(static_batch(replica.cfg, 64, 2048, 2048)[1])
    assert itl.predicted is not None and itl.predicted < 0.7 * full_batch_tpot
    assert len(cache) == 1  # both metrics read one simulated run


def test_a_named_engines_host_costs_apply_to_its_static_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Qwen's speed table ran SGLang at batch 1: the row reads as a static batch, and the
    # engine's fitted step cost applies there as it does in a scenario naming SGLang
    raw = {
        "source_id": "QWEN3_SPEED_SGLANG_H20",
        "model": "Qwen3-30B-A3B",
        "params_b": "30",
        "precision_weights": "bf16",
        "precision_kv": "bf16",
        "gpu": "H20-96GB",
        "n_gpus": "1",
        "tp": "1",
        "batch_or_concurrency": "1",
        "input_len": "1",
        "output_len": "2048",
        "metric": "e2e_total_tokens_per_s_per_request",
        "value": "137.18",
        "unit": "tokens/s",
        "engine": "sglang 0.4.6",
        "notes": "",
    }
    plain = predict_row(raw, 2).predicted
    real = calibration.constants
    step_s = 0.005
    monkeypatch.setattr(
        calibration,
        "constants",
        lambda: {**real(), "engine_overheads": {"sglang": {"iteration_overhead_s": step_s}}},
    )
    slowed = predict_row(raw, 2).predicted
    assert plain is not None and slowed is not None
    # the step the shipped constants give SGLang: its preset's fitted cost, else the shared
    shipped = real().get("engine_overheads", {}).get("sglang", {})
    shipped_step_s = float(shipped.get("iteration_overhead_s", real()["iteration_overhead_s"]))
    # (1 + 2048) tokens over about 2048 steps, each longer by the difference
    expected = 1.0 / (1.0 / plain + (step_s - shipped_step_s) * 2048 / 2049)
    assert slowed == pytest.approx(expected, rel=0.02)


def test_gpt_fast_pays_no_host_time_per_token() -> None:
    # generate.py replays one CUDA graph per token and never reads a token back inside
    # the loop: its decode rate is the GPU's alone (the catalog's 330 W cap aside)
    raw = {
        "source_id": "GPTFAST",
        "model": "Llama-2-7B",
        "params_b": "7",
        "precision_weights": "bf16",
        "precision_kv": "bf16",
        "gpu": "A100-80GB (330W cap)",
        "n_gpus": "8",
        "tp": "8",
        "batch_or_concurrency": "1",
        "input_len": "5",
        "output_len": "",
        "metric": "decode_tokens_per_s_per_request",
        "value": "328.43",
        "unit": "tokens/s",
        "notes": "",
    }
    got = predict_row(raw, 14).predicted
    cfg = replica_from_ids(
        "llama-2-7b", "a100-sxm4-80gb", "bf16", "bf16", 8, 1, EngineKnobs(iteration_overhead_s=0.0)
    ).cfg
    tpot_s = float(static_batch(cfg, 1, 5, 200)[1])
    assert got == pytest.approx(1.0 / tpot_s, rel=1e-9)
    charged = replica_from_ids("llama-2-7b", "a100-sxm4-80gb", "bf16", "bf16", 8, 1).cfg
    assert got > 1.2 / float(static_batch(charged, 1, 5, 200)[1])
