"""Data-parallel attention with expert-parallel MoE (`[engine] attention_dp`)."""

from __future__ import annotations

import pytest
from simplan.engine_knobs import EngineKnobs
from simplan.fit import replica_cfg
from simplan.kernels import layout as c
from simplan.kernels import memory as kmem
from simplan.kernels.ops import allreduce_time_s, attention_params
from simplan.kernels.roofline import step_time_s
from simplan.perf import replica_from_ids
from simplan.scenario import scenario_from_dict


def _cfg(model: str, gpu: str, weights: str, tp: int, dp: bool, moe_max: int | None = None):
    knobs = EngineKnobs(attention_dp=dp, max_num_seqs=2048, moe_max_num_tokens=moe_max)
    return replica_from_ids(model, gpu, weights, "fp8", tp, 1, knobs).cfg


def test_mla_kv_is_no_longer_copied_on_every_gpu() -> None:
    # DeepSeek-V3 at TP8 keeps the whole 576-element latent of every token on each of the
    # 8 GPUs; data-parallel, each GPU keeps only its own requests' latents.
    tp, dp = (
        _cfg("deepseek-v3", "h200", "fp8", 8, False),
        _cfg("deepseek-v3", "h200", "fp8", 8, True),
    )
    per_token = 61 * (512 + 64) * 1.0  # layers x (kv_lora + rope) x FP8 bytes, on one GPU
    assert kmem.kv_bytes_per_token(tp) == kmem.kv_bytes_per_token(dp) == per_token

    def free(cfg):
        budget = cfg[c.MEM_BYTES] * cfg[c.MEM_UTIL]
        return (
            budget
            - kmem.weight_bytes_per_gpu(cfg)
            - kmem.activation_reserve_bytes(cfg)
            - cfg[c.RESERVE_FIXED_BYTES]
        )

    block = tp[c.BLOCK_TOKENS]
    for cfg, pools in ((tp, 1), (dp, 8)):
        tokens = pools * (free(cfg) // per_token)
        assert kmem.kv_capacity_tokens(cfg) == pytest.approx(tokens // block * block, abs=8 * block)
    # the attention weights are replicated, so each GPU has less room, but 8 pools of it
    extra = 61 * (
        attention_params(dp, dp[c.HEADS], 1.0) - attention_params(tp, tp[c.HEADS] / 8, 1.0)
    )
    assert kmem.weight_bytes_per_gpu(dp) - kmem.weight_bytes_per_gpu(tp) == pytest.approx(
        extra * tp[c.W_BYTES], rel=1e-9
    )
    # 8 pools, each smaller by the replicated attention weights and by the MoE working
    # set of every rank's tokens (8 x 8192 rows), unless the MoE takes them in chunks
    assert 4.0 < kmem.kv_capacity_tokens(dp) / kmem.kv_capacity_tokens(tp) < 5.0
    chunked = _cfg("deepseek-v3", "h200", "fp8", 8, True, moe_max=8192)
    assert 6.0 < kmem.kv_capacity_tokens(chunked) / kmem.kv_capacity_tokens(tp) < 8.0


def test_the_moe_working_set_by_hand() -> None:
    # DeepSeek-V3 at TP8, 8192 tokens a step: each (token, routed expert) row holds the
    # gate/up output, its activation and the down projection's output (16-bit), with a
    # 1/8 slice of each expert under TP and whole experts over all 8 ranks' tokens
    # under attention DP; the shared expert runs on the GPU's own tokens either way.
    tp = _cfg("deepseek-v3", "h200", "fp8", 8, False)
    dp = _cfg("deepseek-v3", "h200", "fp8", 8, True)
    t, k, h, i = 8192, 8, 7168, 2048
    heads, latent = 128, 512 + 64  # q heads (nope 128 + rope 64 each); latent + rope key
    moe_tp = t * k * (3 * i / 8 + h)
    moe_dp = 8 * t * k * (3 * i + h)
    qkv_tp, qkv_dp = t * (heads / 8 * 192 + latent), t * (heads * 192 + latent)
    want = 2.0 * (moe_dp - moe_tp + qkv_dp - qkv_tp)
    got = kmem.activation_reserve_bytes(dp) - kmem.activation_reserve_bytes(tp)
    assert got == pytest.approx(want, rel=1e-9)
    # chunked at 2048 tokens, the DP working set is 2048 rows
    small = _cfg("deepseek-v3", "h200", "fp8", 8, True, moe_max=2048)
    got = kmem.activation_reserve_bytes(dp) - kmem.activation_reserve_bytes(small)
    assert got == pytest.approx(2.0 * (8 * t - 2048) * k * (3 * i + h), rel=1e-9)


def test_gqa_kv_with_enough_heads_holds_as_much_either_way() -> None:
    # Llama 3.1 70B has 8 KV heads: TP8 splits them without copies, so data-parallel
    # attention only costs the replicated attention weights (80 layers x 151M parameters,
    # 12 GB at FP8 on each GPU instead of 1.5 GB), about a sixth of the KV room
    tp = _cfg("llama-3.1-70b", "h100-sxm", "fp8", 8, False)
    dp = _cfg("llama-3.1-70b", "h100-sxm", "fp8", 8, True)
    lost = kmem.weight_bytes_per_gpu(dp) - kmem.weight_bytes_per_gpu(tp)
    assert lost == pytest.approx(80 * 7 / 8 * (8192 * 80 * 128 + 64 * 128 * 8192), rel=1e-6)
    per_token_replica = kmem.kv_bytes_per_token(tp)  # TP: one token's slice on each GPU
    fewer = tp[c.TP] * lost / (tp[c.TP] * per_token_replica)
    # (and a little more: the activations of all heads)
    assert kmem.kv_capacity_tokens(tp) - kmem.kv_capacity_tokens(dp) == pytest.approx(
        fewer, rel=0.03
    )


def test_expert_parallel_moe_trades_all_reduces_for_all_to_alls() -> None:
    # Llama 4 Maverick (top-1 routing) at TP8: at a large decode batch the dispatch and
    # combine of one hidden state per token cost far less than two all-reduces of all of
    # them; at batch 1 each GPU reads the whole (replicated) attention weights instead.
    tp = _cfg("llama-4-maverick", "h200", "fp8", 8, False)
    dp = _cfg("llama-4-maverick", "h200", "fp8", 8, True)

    def decode(cfg, b):
        return step_time_s(cfg, 0.0, 0.0, 0.0, float(b), b * 300.0)

    assert decode(dp, 1024) < 0.85 * decode(tp, 1024)
    # without any communication cost the layouts differ by the attention weights each GPU
    # reads: all of them (3 GB at FP8) against an eighth, which shows at batch 1 and
    # vanishes under a large batch's expert and KV reads
    for cfg in (tp, dp):
        cfg[c.AR_ALPHA_S], cfg[c.AR_BW_BYTES_PER_S] = 0.0, 1e30
    extra_s = 48 * 7 / 8 * (5120 * 56 * 128 + 40 * 128 * 5120) / (4800e9 * tp[c.ETA_M])
    assert decode(dp, 1) - decode(tp, 1) == pytest.approx(extra_s, rel=0.25)
    assert decode(dp, 1024) == pytest.approx(decode(tp, 1024), rel=0.08)


def test_the_engine_setting_reaches_the_replica_only_with_tensor_parallel_gpus() -> None:
    def scenario(tp: int):
        return scenario_from_dict(
            {
                "model": {"name": "qwen3-235b-a22b", "weights": "fp8"},
                "hardware": {"gpu": "h200", "tp": tp},
                "engine": {"attention_dp": True},
                "workload": {"rate_per_s": 1.0, "num_requests": 5},
            }
        )

    assert replica_cfg(scenario(8))[0][c.ATT_DP] == 1.0
    assert replica_cfg(scenario(4))[0][c.ATT_DP] == 1.0
    assert replica_cfg(scenario(1))[0][c.ATT_DP] == 0.0  # one GPU: nothing to split


def test_a_scenario_chunks_its_moe_and_gets_the_kv_room_back() -> None:
    # Qwen3-235B FP8 on 8 H100s with attention DP, as TensorRT-LLM runs it: the MoE's
    # 8 x 8192 gathered rows leave less KV room than 8192-token chunks do
    def cfg(engine: dict):  # type: ignore[no-untyped-def]
        doc = {
            "model": {"name": "qwen3-235b-a22b", "weights": "fp8"},
            "hardware": {"gpu": "h100-sxm", "tp": 8},
            "engine": {"name": "tensorrt-llm", "attention_dp": True, **engine},
            "workload": {"rate_per_s": 1.0, "num_requests": 5},
        }
        return replica_cfg(scenario_from_dict(doc))[0]

    whole, chunked = cfg({}), cfg({"moe_max_num_tokens": 8192})
    assert whole[c.MOE_MAX_TOKENS] == 0.0 and chunked[c.MOE_MAX_TOKENS] == 8192.0
    freed = kmem.activation_reserve_bytes(whole) - kmem.activation_reserve_bytes(chunked)
    assert freed == pytest.approx(2.0 * 7 * 8192 * 8 * (3 * 1536 + 4096), rel=1e-9)
    assert kmem.kv_capacity_tokens(chunked) > 1.15 * kmem.kv_capacity_tokens(whole)


def _maverick(whole: bool, tp: bool = False):  # type: ignore[no-untyped-def]
    knobs = EngineKnobs(attention_dp=not tp, dp_whole_dense=whole, max_num_seqs=2048)
    return replica_from_ids("llama-4-maverick", "h100-sxm", "fp8", "fp8", 8, 1, knobs).cfg


def test_tensorrt_llm_and_vllm_keep_the_dense_weights_whole_on_every_gpu() -> None:
    # Llama 4 Maverick on 8 H100s with attention DP, by hand from its config: 24 dense
    # SwiGLU MLPs of width 16384, 24 shared experts of width 8192 and the two 16-bit
    # 202048 x 5120 tables are whole on each GPU (TensorRT-LLM, vLLM) instead of 1/8
    # (SGLang's default); the 128 routed experts stay 16 per GPU either way.
    whole, split = _maverick(True), _maverick(False)
    h = 5120
    dense = 24 * 3 * h * 16384
    shared = 24 * 3 * h * 8192
    tables = 2 * 202048 * h * 2.0  # bytes
    extra = (dense + shared) * 7 / 8 * 1.0 + tables * 7 / 8  # FP8 weights
    got = kmem.weight_bytes_per_gpu(whole) - kmem.weight_bytes_per_gpu(split)
    assert got == pytest.approx(extra, rel=1e-9)
    assert got / 1e9 == pytest.approx(11.55, abs=0.01)  # of ~27 GB an H100 had for KV
    # their activations are whole too: the shared expert's (3 x 8192 per token) and the
    # fp32 logits of 2048 rows over the whole vocabulary (the routed rows are the same)
    t = whole[c.MAX_BATCHED_TOKENS]
    act = (t * 3 * 8192 * 2.0 + 2048 * 202048 * 4.0) * 7 / 8
    got = kmem.activation_reserve_bytes(whole) - kmem.activation_reserve_bytes(split)
    assert got == pytest.approx(act, rel=1e-9)
    assert kmem.kv_capacity_tokens(whole) < 0.75 * kmem.kv_capacity_tokens(split)
    # without attention DP nothing changes: the engines shard everything over TP
    assert kmem.weight_bytes_per_gpu(_maverick(True, tp=True)) == kmem.weight_bytes_per_gpu(
        _maverick(False, tp=True)
    )


def test_a_whole_dense_layer_runs_its_own_tokens_without_a_collective() -> None:
    # With the dense MLP whole, a GPU runs its own 1/8 of the tokens through all of it
    # (the same FLOPs as 1/8 of the MLP over every token) and nothing is gathered: at a
    # compute-bound batch the step is faster by about the all-reduces it no longer does;
    # at batch 8 each GPU reads 8x the dense weights and the step is slower.
    whole, split = _maverick(True), _maverick(False)

    def decode(cfg, b):
        return step_time_s(cfg, 0.0, 0.0, 0.0, float(b), b * 300.0)

    assert decode(whole, 8) > 1.05 * decode(split, 8)
    # 24 dense layers each gathered 4096 tokens' hidden states (one all-reduce's traffic);
    # with a flat efficiency ramp (512 own rows run as well as 4096) that is all it saves
    for cfg in (whole, split):
        cfg[c.M_HALF_TOKENS] = cfg[c.M_HALF_16_TOKENS] = 1e-9
    gathered = 24 * allreduce_time_s(split, 4096 * 5120 * split[c.A_BYTES])
    assert decode(split, 4096) - decode(whole, 4096) == pytest.approx(gathered, rel=0.05)


def test_the_engines_choose_their_dense_layout() -> None:
    def cfg(engine: str):
        return replica_cfg(
            scenario_from_dict(
                {
                    "model": {"name": "qwen3-235b-a22b", "weights": "fp8"},
                    "hardware": {"gpu": "h200", "tp": 8},
                    "engine": {"name": engine, "attention_dp": True},
                    "workload": {"rate_per_s": 1.0, "num_requests": 5},
                }
            )
        )[0]

    assert cfg("tensorrt-llm")[c.ADP_WHOLE_DENSE] == cfg("vllm")[c.ADP_WHOLE_DENSE] == 1.0
    assert cfg("sglang")[c.ADP_WHOLE_DENSE] == 0.0


def test_whole_dense_layouts_match_the_numpy_reference() -> None:
    import numpy as np
    import reference as ref

    cfgs = np.stack(
        [_maverick(True), _maverick(False), _maverick(True, tp=True)]
        + [
            replica_from_ids(
                m, "h200", "fp8", "fp8", 8, 1, EngineKnobs(attention_dp=True, dp_whole_dense=True)
            ).cfg
            for m in ("deepseek-v3", "qwen3-235b-a22b", "llama-4-scout")
        ]
    )
    for args in ((0.0, 0.0, 0.0, 333.0, 333.0 * 900.0), (700.0, 700.0 * 350.5, 2.0, 64.0, 6.4e4)):
        got = [step_time_s(row, *args) for row in cfgs]
        assert got == pytest.approx(ref.step_time(cfgs, *args), rel=1e-9)
    got = [kmem.weight_bytes_per_gpu(row) for row in cfgs]
    assert got == pytest.approx(ref.weight_bytes_per_gpu(cfgs), rel=1e-12)
    got = [kmem.kv_capacity_tokens(row) for row in cfgs]
    assert got == pytest.approx(ref.kv_capacity_tokens(cfgs), rel=1e-12)


def test_a_run_with_long_prompts_under_attention_dp_says_its_latencies_are_optimistic() -> None:
    from simplan.metrics import summarize
    from simplan.sim import simulate

    def notes(tp: int, dp: bool, prompt: int) -> list[str]:
        sc = scenario_from_dict(
            {
                "model": {"name": "qwen3-30b-a3b", "weights": "fp8"},
                "hardware": {"gpu": "h200", "tp": tp},
                "engine": {"attention_dp": dp, "max_num_batched_tokens": 8192},
                "workload": {
                    "rate_per_s": 2.0,
                    "num_requests": 8,
                    "input_tokens": prompt,
                    "output_tokens": 16,
                },
            }
        )
        return [n for n in summarize(simulate(sc))["notes"] if n.startswith("attention DP")]

    # 4 ranks share an 8192-token budget: a 3000-token prompt is more than a rank's 2048
    (note,) = notes(4, True, 3000)
    assert "4 ranks" in note and "3,000 tokens" in note
    assert notes(4, True, 1500) == []  # within a rank's even share
    assert notes(4, False, 3000) == []  # tensor-parallel attention: nothing to spread
