"""DeepSeek sparse attention (V3.2): each query attends to its top 2048 keys, picked by a
small FP8 indexer that scans every key; its keys take 132 bytes per token and layer."""

from __future__ import annotations

import pytest
from simplan import catalog
from simplan.engine_knobs import EngineKnobs
from simplan.kernels import memory
from simplan.kernels.roofline import step_time_s
from simplan.perf import replica_from_ids


def _cfg(model: str, kv: str = "fp8", attention_dp: bool = False):  # type: ignore[no-untyped-def]
    knobs = EngineKnobs(attention_dp=attention_dp)
    return replica_from_ids(model, "h200", "fp8", kv, tp=8, engine=knobs).cfg


def test_v3_2_is_v3_with_an_indexer() -> None:
    v3, v32 = catalog.model("deepseek-v3"), catalog.model("deepseek-v3.2")
    shape = ("num_layers", "hidden_size", "num_experts", "kv_lora_rank", "total_params_b")
    assert all(getattr(v3, k) == getattr(v32, k) for k in shape)
    assert (v32.sparse_attention_topk_tokens, v32.indexer_heads) == (2048, 64)


@pytest.mark.parametrize("kv", ["fp8", "fp16"])
def test_the_indexer_keys_add_132_bytes_per_token_and_layer(kv: str) -> None:
    extra = memory.kv_bytes_per_token(_cfg("deepseek-v3.2", kv))
    extra -= memory.kv_bytes_per_token(_cfg("deepseek-v3", kv))
    assert extra == pytest.approx(61 * (128 + 4))  # FP8 key + fp32 scale, whatever the KV dtype


def test_decode_stops_growing_with_the_context_past_top_k() -> None:
    v3, v32 = _cfg("deepseek-v3"), _cfg("deepseek-v3.2")
    seqs = 64.0

    def decode(cfg, ctx):  # type: ignore[no-untyped-def]
        return step_time_s(cfg, 0.0, 0.0, 0.0, seqs, seqs * ctx)

    # short contexts: the same attention plus the indexer's scan
    assert decode(v32, 1000.0) > decode(v3, 1000.0)
    # long contexts: dense attention keeps reading 576 latent values per token, sparse
    # attention 2048 tokens of them plus 132 indexer bytes per token
    growth_v3 = decode(v3, 128_000.0) - decode(v3, 32_000.0)
    growth_v32 = decode(v32, 128_000.0) - decode(v32, 32_000.0)
    assert decode(v32, 128_000.0) < decode(v3, 128_000.0)
    assert 0.0 < growth_v32 < 0.35 * growth_v3


def test_a_long_prefill_saves_most_with_data_parallel_attention() -> None:
    """Sparse MLA runs absorbed against the 576-value latent (3.4x the FLOPs per pair of
    dense MLA's expanded prefill) over at most 2048 keys, and every TP rank runs the whole
    indexer; so under TP it only pays off past ~100k tokens, while with data-parallel
    attention (how DeepSeek serves it) its saving grows with the prompt."""

    def prefill(cfg, n):  # type: ignore[no-untyped-def]
        return step_time_s(cfg, n, n * (n + 1) / 2.0, 1.0, 0.0, 0.0)

    tp_v3, tp_v32 = _cfg("deepseek-v3"), _cfg("deepseek-v3.2")
    assert prefill(tp_v32, 8_000.0) > prefill(tp_v3, 8_000.0)
    dp_v3, dp_v32 = _cfg("deepseek-v3", attention_dp=True), _cfg("deepseek-v3.2", attention_dp=True)

    def ratio(n: float) -> float:
        return prefill(dp_v32, n) / prefill(dp_v3, n)

    assert ratio(128_000.0) < ratio(64_000.0) < 0.65 < 1.0 < ratio(8_000.0)
    assert prefill(dp_v32, 64_000.0) > 1.5 * prefill(dp_v32, 32_000.0)  # the indexer's n^2


def test_a_disaggregated_handoff_moves_the_indexer_keys_too() -> None:
    from simplan.disaggregation import kv_bytes_per_token

    def replica(model: str):  # type: ignore[no-untyped-def]
        return replica_from_ids(model, "h200", "fp8", "fp8", tp=8)

    v3, v32 = replica("deepseek-v3"), replica("deepseek-v3.2")
    extra = kv_bytes_per_token(v32) - kv_bytes_per_token(v3)
    assert extra == pytest.approx(61 * 132)


def test_utilization_counts_the_sparse_work_not_the_dense_one() -> None:
    from simplan.kernels.roofline import step_flops_and_bytes

    v3, v32 = _cfg("deepseek-v3"), _cfg("deepseek-v3.2")
    seqs, ctx = 64.0, 128_000.0
    f3, b3 = step_flops_and_bytes(v3, 0.0, 0.0, 0.0, seqs, seqs * ctx)
    f32, b32 = step_flops_and_bytes(v32, 0.0, 0.0, 0.0, seqs, seqs * ctx)
    # KV reads: 2048 of 128k tokens' latents, plus every token's 132-byte indexer key
    latent = 61 * 576.0  # FP8 values per token, all layers
    assert b3 - b32 == pytest.approx(seqs * (ctx - 2048.0) * latent - seqs * ctx * 61 * 132.0)
    assert f32 < f3  # the top-k pairs and a 64 x 128 FP8 scan cost less than every pair
