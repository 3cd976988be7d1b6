"""Engines other than vLLM: TensorRT-LLM's memory semantics, admission and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from simplan.cli import main
from simplan.engine_knobs import EngineKnobs
from simplan.fit import replica_cfg
from simplan.kernels import layout as c
from simplan.kernels import memory as kmem
from simplan.metrics import summarize
from simplan.perf import replica_from_ids
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate

GIB = 2.0**30


def _scenario(engine: dict, model: dict | None = None, workload: dict | None = None):
    return scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b", **(model or {})},
            "hardware": {"gpu": "h100-sxm"},
            "engine": engine,
            "workload": workload or {"arrival": "poisson", "rate_per_s": 1.0, "num_requests": 10},
        }
    )


def test_trtllm_kv_cache_is_a_share_of_the_memory_left_after_the_weights() -> None:
    trt, _ = replica_cfg(_scenario({"name": "tensorrt-llm", "kv_cache_free_gpu_mem_fraction": 0.5}))
    vllm, _ = replica_cfg(_scenario({"gpu_memory_utilization": 0.5}))
    taken = (
        kmem.weight_bytes_per_gpu(trt)
        + kmem.activation_reserve_bytes(trt)
        + trt[c.RESERVE_FIXED_BYTES]
    )
    free_after_load = trt[c.MEM_BYTES] - taken
    kv_bytes = kmem.kv_capacity_tokens(trt) * kmem.kv_bytes_per_token(trt)
    block_bytes = trt[c.BLOCK_TOKENS] * kmem.kv_bytes_per_token(trt)
    assert 0.5 * free_after_load - block_bytes <= kv_bytes <= 0.5 * free_after_load
    # vLLM's 0.5 is half of all memory, weights included: far less KV
    vllm_taken = (
        kmem.weight_bytes_per_gpu(vllm)
        + kmem.activation_reserve_bytes(vllm)
        + vllm[c.RESERVE_FIXED_BYTES]
    )
    vllm_kv = kmem.kv_capacity_tokens(vllm) * kmem.kv_bytes_per_token(vllm)
    assert 0.5 * vllm[c.MEM_BYTES] - vllm_taken - block_bytes <= vllm_kv
    assert kv_bytes > 1.25 * vllm_kv


def test_trtllm_defaults_and_explicit_knobs() -> None:
    eng = _scenario({"name": "tensorrt-llm"}).engine
    assert (eng.max_num_seqs, eng.max_num_batched_tokens, eng.chunked_prefill) == (
        2048,
        8192,
        True,  # in-flight batching mixes context and generation in one step
    )
    assert eng.kv_cache_free_gpu_mem_fraction == 0.9 and eng.reserves_whole_output
    eng = _scenario(
        {"name": "tensorrt-llm", "max_num_seqs": 64, "scheduler_policy": "max_utilization"}
    ).engine
    assert eng.max_num_seqs == 64 and not eng.reserves_whole_output
    assert _scenario({}).engine.max_num_seqs == 256  # vLLM's


def test_fp8_checkpoints_give_trtllm_an_fp8_kv_cache() -> None:
    assert _scenario({"name": "tensorrt-llm"}, {"weights": "fp8"}).model.kv_cache == "fp8"
    assert (
        _scenario({"name": "tensorrt-llm"}, {"weights": "fp8", "kv_cache": "fp16"}).model.kv_cache
        == "fp16"
    )
    assert _scenario({}, {"weights": "fp8"}).model.kv_cache == "fp16"  # vLLM: the model dtype


def _lockstep(engine: dict) -> dict:
    """300 equal requests at once on an L4: the KV cache cannot hold them all."""
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "l4"},
            "engine": {"chunked_prefill": False, **engine},
            "workload": {
                "arrival": "offline",
                "num_requests": 300,
                "input_tokens": 1500,
                "output_tokens": 600,
            },
        }
    )
    res = simulate(sc)
    return {"summary": summarize(res), "res": res}


def test_guaranteed_no_evict_never_preempts_and_caps_the_batch_by_whole_requests() -> None:
    vllm = _lockstep({"gpu_memory_utilization": 0.9})
    trt = _lockstep({"name": "tensorrt-llm", "max_num_seqs": 256})
    assert vllm["summary"]["preemptions"] > 0
    assert trt["summary"]["preemptions"] == 0
    assert trt["summary"]["requests_completed"] == 300
    # at most as many requests run at once as fit whole (prompt + output) in the KV cache
    (engine,) = trt["res"].engines
    per_request = -(-(1500 + 600) // engine.block)
    whole = engine.total_blocks // per_request
    assert trt["res"].series.array("running").max() <= whole
    # vLLM admits on the prompt: more run at once than would fit whole, hence preemptions
    (v_engine,) = vllm["res"].engines
    assert vllm["res"].series.array("running").max() > v_engine.total_blocks // per_request


def test_knobs_of_the_other_engine_are_refused(tmp_path: Path) -> None:
    base = (
        '[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "h100-sxm"\n'
        "[workload]\nrate_per_s = 1.0\nnum_requests = 5\n"
    )
    cases = {
        '[engine]\nname = "tensorrt-llm"\ngpu_memory_utilization = 0.9\n': (
            "kv_cache_free_gpu_mem_fraction"
        ),
        "[engine]\nkv_cache_free_gpu_mem_fraction = 0.9\n": "name = 'tensorrt-llm'",
        '[engine]\nname = "lmdeploy"\n': "sglang",  # not an engine simplan models
        "[engine]\nmem_fraction_static = 0.8\n": "name = 'sglang'",
        '[engine]\nname = "sglang"\nkv_cache_free_gpu_mem_fraction = 0.9\n': "tensorrt-llm",
    }
    for i, (engine, expected) in enumerate(cases.items()):
        p = tmp_path / f"s{i}.toml"
        p.write_text(base + engine, encoding="utf-8")
        result = CliRunner().invoke(main, ["check", str(p)])
        assert result.exit_code == 2, result.output
        assert expected in result.output and "engine" in result.output


def test_vllm_v0_defaults_follow_the_models_context() -> None:
    long = _scenario({"version": "v0"}).engine  # Llama 3.1: 131,072-token context
    assert (long.chunked_prefill, long.max_num_batched_tokens) == (True, 2048)
    assert long.enable_prefix_caching is False and long.preset == "vllm-v0"
    short = _scenario({"version": "v0"}, model={"name": "llama-2-7b"}).engine  # 4,096
    assert (short.chunked_prefill, short.max_num_batched_tokens) == (False, 4096)
    mine = _scenario({"version": "v0", "max_num_batched_tokens": 512}).engine
    assert mine.max_num_batched_tokens == 512
    v1 = _scenario({}).engine
    assert v1.preset == "vllm-v1" and v1.enable_prefix_caching is True


def test_each_engine_pays_its_own_host_step() -> None:
    # one request at a time, a token costs the GPU's step plus the engine's host step:
    # SGLang (v0.4 on) prepares the next batch while the GPU runs this one, so its step
    # costs nothing on the critical path; TensorRT-LLM's fitted step is its own; vLLM V1
    # pays the shared constant
    from simplan.calibration import constants as calibration

    shared_step_s = float(calibration()["iteration_overhead_s"])
    trt_step_s = float(calibration()["engine_overheads"]["tensorrt-llm"]["iteration_overhead_s"])
    one_at_a_time = {
        "arrival": "closed",
        "concurrency": 1,
        "num_requests": 4,
        "input_tokens": 64,
        "output_tokens": 64,
    }
    tpot = {
        name: summarize(simulate(_scenario({"name": name}, workload=one_at_a_time)))["tpot_s"][
            "p50"
        ]
        for name in ("sglang", "vllm", "tensorrt-llm")
    }
    assert tpot["vllm"] - tpot["sglang"] == pytest.approx(shared_step_s, rel=1e-6)
    assert tpot["tensorrt-llm"] - tpot["vllm"] == pytest.approx(
        trt_step_s - shared_step_s, rel=1e-6
    )


def test_vllm_v0_pays_its_fitted_host_costs_and_more_when_streaming() -> None:
    from simplan.calibration import constants as calibration

    fitted = calibration()["engine_overheads"]["vllm-v0"]
    per_seq, stream = fitted["sequence_overhead_s"], fitted["stream_sequence_overhead_s"]
    batch_job = {
        "arrival": "offline",
        "num_requests": 300,
        "input_tokens": 200,
        "output_tokens": 200,
    }
    streamed, _ = replica_cfg(_scenario({"version": "v0"}))  # Poisson clients stream
    batch, _ = replica_cfg(_scenario({"version": "v0"}, workload=batch_job))
    v1, _ = replica_cfg(_scenario({}))
    assert streamed[c.T_SEQ_S] == per_seq + stream and stream > 0
    assert batch[c.T_SEQ_S] == per_seq > 0 and v1[c.T_SEQ_S] == 0.0
    assert streamed[c.T_ITER_S] == batch[c.T_ITER_S] == fitted["iteration_overhead_s"]
    assert v1[c.T_ITER_S] == calibration()["iteration_overhead_s"]
    # a deployment's own fit wins over the preset's, streaming or not
    own, _ = replica_cfg(_scenario({"version": "v0", "calibration": {"sequence_overhead_s": 1e-5}}))
    assert own[c.T_SEQ_S] == 1e-5
    # a batch job of 300 requests: V0's host costs lower its throughput below V1's
    tput = {
        v: summarize(simulate(_scenario(e, workload=batch_job)))["output_tokens_per_s"]
        for v, e in (("v0", {"version": "v0"}), ("v1", {}))
    }
    assert tput["v0"] < 0.85 * tput["v1"]


def test_version_belongs_to_vllm(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'name = "x"\n[model]\nname = "llama-3.1-8b"\n[hardware]\ngpu = "h100-sxm"\n'
        '[engine]\nname = "tensorrt-llm"\nversion = "v0"\n'
        "[workload]\nrate_per_s = 1.0\nnum_requests = 5\n"
    )
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert "tensorrt-llm has no version setting" in result.output


def test_deepseek_fp8_on_8xh200_against_vllms_memory_log() -> None:
    """vLLM 0.7.3 serving DeepSeek-R1 (FP8, TP8) on 8x H200 at gpu_memory_utilization 0.85
    with 32,000 batched tokens logged "model weights take 83.88GiB; non_torch_memory takes
    7.16GiB; PyTorch activation peak memory takes 6.37GiB; the rest of the memory reserved
    for KV Cache is 21.43GiB", out of 139.81 GiB x 0.85 = 118.84 GiB per GPU, and a
    maximum concurrency of 2.30 requests of 128,000 tokens
    (github.com/FlowAsBrook/will @ 741c027, source/_posts/cuda.md, 2025-03): 34.96 GiB
    per GPU free after the weights, the figure issue 14 asks to meet within 10%.

    simplan holds the checkpoint's weights (4.7 GiB per GPU less than vLLM loaded), so its
    free memory is 13% more. vLLM 0.7.x also kept, for decode, MLA's absorbed matrices
    beside the raw ones ("we end up with absorbed weights for decode and another copy of
    raw weights for prefill", vllm/attention/backends/mla/utils.py
    process_weights_after_loading): W_Q_UK and W_UV_O requantized to FP8, W_QR and the
    dequantized kv_b_proj in BF16. vLLM 0.8 dropped them (PR #14770, "it reduces memory
    usage"), so simplan does not model them; computed from the config they are the gap.

    The KV cache is not within 10% of vLLM's: simplan gives 1.78x its tokens, reserving
    1 GiB outside the weights and activations where vLLM 0.7.3 measured 7.2 GiB, and 5.0
    GiB of activations (the fused MoE's rows included) where vLLM peaked at 6.4
    (docs/model.md). The bound pins that gap so that a change to it is seen."""
    knobs = EngineKnobs(
        gpu_memory_utilization=0.85, max_num_batched_tokens=32000, max_num_seqs=1024
    )
    cfg = replica_from_ids("deepseek-v3", "h200", "fp8", "fp16", 8, 1, knobs).cfg
    gib = 2.0**30
    weights_gib = kmem.weight_bytes_per_gpu(cfg) / gib
    assert weights_gib == pytest.approx(83.88, rel=0.10)
    free_gib = 139.81 * 0.85 - weights_gib
    assert free_gib / 34.96 == pytest.approx(1.13, abs=0.02)
    # vLLM 0.7's decode-only copies, per layer per GPU (the local heads of TP8)
    heads = cfg[c.HEADS] / 8
    q_uk = cfg[c.Q_LORA] * heads * cfg[c.KV_LORA]  # FP8
    uv_o = heads * cfg[c.KV_LORA] * cfg[c.HIDDEN]  # FP8
    q_r = cfg[c.Q_LORA] * heads * cfg[c.QK_ROPE] * 2  # BF16
    kv_b = cfg[c.KV_LORA] * heads * (cfg[c.QK_NOPE] + cfg[c.V_HD]) * 2  # BF16
    absorbed_gib = cfg[c.LAYERS] * (q_uk + uv_o + q_r + kv_b) / gib
    assert weights_gib + absorbed_gib == pytest.approx(83.88, rel=0.01)
    assert free_gib - absorbed_gib == pytest.approx(34.96, rel=0.01)
    concurrency = kmem.kv_capacity_tokens(cfg) / 128_000
    assert concurrency >= 1.0  # the layout serves a 128k-token request, as vLLM's did
    assert concurrency / 2.30 == pytest.approx(1.78, rel=0.05)
