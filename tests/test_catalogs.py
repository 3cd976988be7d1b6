"""The shipped catalogs: provenance on every entry, required ids, physical sanity, CLI views."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from simplan import catalog
from simplan.catalog import ModelArch
from simplan.cli import main
from simplan.errors import CatalogError

KINDS = ("gpu", "model", "weights", "kv_cache", "api", "efficiency")

REQUIRED_GPUS = [
    "a100-sxm4-80gb",
    "a100-sxm4-40gb",
    "a100-pcie-80gb",
    "h100-sxm",
    "h100-pcie",
    "h200",
    "l40s",
    "l4",
    "a10g",
]
REQUIRED_MODELS = [
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3-8b",
    "llama-3-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-3.3-70b",
    "mixtral-8x7b",
    "qwen2.5-7b",
    "qwen2.5-14b",
    "qwen2.5-32b",
    "qwen2.5-72b",
    "qwen1.5-72b",
    "deepseek-v3",
    "kimi-k2",
    "internlm-20b",
    "gpt-j-6b",
    "opt-13b",
]
REQUIRED_WEIGHTS = ["fp16", "bf16", "fp8", "int8", "int8-wo", "int4-awq", "int4-gptq", "w4a8"]
REQUIRED_KV = ["fp16", "bf16", "fp8", "int8"]


def _all_entries() -> list[tuple[str, str, object]]:
    return [(kind, key, entry) for kind in KINDS for key, entry in catalog.load(kind).items()]


@pytest.mark.parametrize(
    ("kind", "key", "entry"),
    _all_entries(),
    ids=[f"{kind}:{key}" for kind, key, _ in _all_entries()],
)
def test_every_entry_has_source_and_date(kind: str, key: str, entry: object) -> None:
    source = getattr(entry, "source", "")
    assert isinstance(source, str)
    assert source.strip(), f"{kind} {key} has no source"
    as_of = getattr(entry, "as_of", "")
    # YYYY-MM or YYYY-MM-DD, and a real calendar date.
    parts = [int(p) for p in as_of.split("-")]
    assert len(parts) in (2, 3), as_of
    dt.date(parts[0], parts[1], parts[2] if len(parts) == 3 else 1)
    assert 2000 <= parts[0] <= 2100


def test_every_catalog_is_non_empty() -> None:
    for kind in KINDS:
        assert catalog.load(kind), kind


@pytest.mark.parametrize(
    ("kind", "ids"),
    [
        ("gpu", REQUIRED_GPUS),
        ("model", REQUIRED_MODELS),
        ("weights", REQUIRED_WEIGHTS),
        ("kv_cache", REQUIRED_KV),
        ("api", ["gpt-4o", "claude-3.5-sonnet", "deepseek-v3"]),
    ],
)
def test_required_ids_exist(kind: str, ids: list[str]) -> None:
    missing = sorted(set(ids) - set(catalog.load(kind)))
    assert not missing, f"{kind} catalog lacks {missing}"


def test_api_prices() -> None:
    gpt4o = catalog.api("gpt-4o")
    assert (gpt4o.usd_per_mtok_input, gpt4o.usd_per_mtok_output) == (2.50, 10.00)
    sonnet = catalog.api("claude-3.5-sonnet")
    assert (sonnet.usd_per_mtok_input, sonnet.usd_per_mtok_output) == (3.0, 15.0)
    ds = catalog.api("deepseek-v3")
    assert 0 < ds.usd_per_mtok_input <= ds.usd_per_mtok_output


def test_api_model_links_point_into_model_catalog() -> None:
    models = catalog.load("model")
    for key, entry in catalog.load("api").items():
        if entry.model is not None:
            assert entry.model in models, f"api {key} names unknown model {entry.model!r}"


def test_unknown_id_suggests_nearest() -> None:
    with pytest.raises(CatalogError, match="did you mean 'a100-sxm4-80gb'"):
        catalog.gpu("a100-sxm4-80g")


# --- physical sanity ---------------------------------------------------------------------


def test_fp8_tensor_cores() -> None:
    for a100 in ("a100-sxm4-80gb", "a100-sxm4-40gb", "a100-pcie-80gb"):
        assert not catalog.gpu(a100).has_fp8, a100
        assert catalog.gpu(a100).tflops_fp8 == 0
    for hopper in ("h100-sxm", "h100-pcie", "h200"):
        assert catalog.gpu(hopper).has_fp8, hopper


def test_h100_faster_than_a100() -> None:
    h100, a100 = catalog.gpu("h100-sxm"), catalog.gpu("a100-sxm4-80gb")
    assert h100.tflops_fp16 > a100.tflops_fp16
    assert h100.hbm_bandwidth_gb_per_s > a100.hbm_bandwidth_gb_per_s
    assert catalog.gpu("h200").memory_gib > h100.memory_gib
    assert catalog.gpu("a100-sxm4-80gb").memory_gib > catalog.gpu("a100-sxm4-40gb").memory_gib


@pytest.mark.parametrize("gpu_id", sorted(catalog.load("gpu")))
def test_gpu_entry_is_plausible(gpu_id: str) -> None:
    g = catalog.gpu(gpu_id)
    assert 8 <= g.memory_gib <= 512
    assert 100 <= g.hbm_bandwidth_gb_per_s <= 20_000
    assert 10 <= g.tflops_fp16 <= 5_000  # dense, not sparse
    if g.tflops_fp8:
        assert g.tflops_fp8 >= g.tflops_fp16
    assert g.price_spot_usd_per_hour <= g.price_on_demand_usd_per_hour
    assert g.price_reserved_usd_per_hour <= g.price_on_demand_usd_per_hour
    assert g.price_source.strip()


def count_params(m: ModelArch) -> tuple[float, float]:
    """(total, active) parameters in billions from the architecture (biases and norms left out).

    Embeddings + layers * (attention + MLP or experts) + LM head unless tied.
    """
    h, heads = m.hidden_size, m.num_attention_heads
    embed = m.vocab_size * h
    head = 0 if m.tie_word_embeddings else m.vocab_size * h
    if m.attention == "mla":
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        q = h * m.q_lora_rank + m.q_lora_rank * heads * qk if m.q_lora_rank else h * heads * qk
        kv = h * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv += m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim)
        attn = q + kv + heads * m.v_head_dim * h
    else:
        attn = 2 * h * heads * m.head_dim + 2 * h * m.num_kv_heads * m.head_dim
    mats = 3 if m.gated_mlp else 2
    dense_mlp = mats * h * m.intermediate_size
    if m.is_moe:
        n_moe = (m.num_layers - m.first_dense_layers) // m.moe_layer_step
        n_dense = m.num_layers - n_moe
        expert = mats * h * m.moe_intermediate_size
        router = h * m.num_experts
        dense_part = n_dense * (attn + dense_mlp)
        total = dense_part + n_moe * (
            attn + (m.num_experts + m.num_shared_experts) * expert + router
        )
        active = dense_part + n_moe * (
            attn + (m.experts_per_token + m.num_shared_experts) * expert + router
        )
    else:
        total = active = m.num_layers * (attn + dense_mlp)
    return (embed + head + total) / 1e9, (embed + head + active) / 1e9


@pytest.mark.parametrize("model_id", sorted(catalog.load("model")))
def test_parameter_count_matches_architecture(model_id: str) -> None:
    m = catalog.model(model_id)
    total, active = count_params(m)
    assert total == pytest.approx(m.total_params_b, rel=0.05)
    assert active == pytest.approx(m.active_params_b, rel=0.05)
    if m.is_moe:
        assert m.active_params_b < m.total_params_b
    else:
        assert m.active_params_b == m.total_params_b


@pytest.mark.parametrize("model_id", sorted(catalog.load("model")))
def test_model_shapes_consistent(model_id: str) -> None:
    m = catalog.model(model_id)
    assert m.num_attention_heads % m.num_kv_heads == 0
    if m.attention == "mha":
        assert m.num_kv_heads == m.num_attention_heads
    if m.attention == "mla":
        assert m.head_dim == m.qk_nope_head_dim + m.qk_rope_head_dim
        assert m.kv_lora_rank > 0
    assert m.max_context_tokens >= 2048


def test_moe_models() -> None:
    for model_id in ("mixtral-8x7b", "deepseek-v3", "kimi-k2"):
        m = catalog.model(model_id)
        assert m.is_moe, model_id
        assert m.active_params_b < m.total_params_b
    assert not catalog.model("llama-3.1-70b").is_moe


def test_quantization_bits() -> None:
    w = catalog.load("weights")
    assert w["fp16"].bits_per_weight == 16
    assert w["fp8"].bits_per_weight == 8
    assert w["int8"].bits_per_weight == 8
    for q in ("int4-awq", "int4-gptq", "w4a8"):
        assert 4 <= w[q].bits_per_weight < 5, q
    assert w["fp8"].requires_fp8_tensor_cores
    assert w["int4-awq"].weight_only
    kv = catalog.load("kv_cache")
    assert kv["fp16"].bytes_per_element == 2
    assert kv["bf16"].bytes_per_element == 2
    assert kv["fp8"].bytes_per_element == 1
    assert kv["int8"].bytes_per_element == 1


def test_efficiency_factors_cover_every_gpu_family() -> None:
    for gpu_id, g in catalog.load("gpu").items():
        eff = catalog.efficiency(g.family)
        assert 0 < eff.gemm_compute_efficiency_max <= 1, gpu_id


# --- the CLI views -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gpus", "models", "quantization", "apis"])
def test_catalog_command_table(kind: str) -> None:
    result = CliRunner().invoke(main, ["catalog", kind])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"simplan catalog {kind}" in result.output


@pytest.mark.parametrize(
    ("kind", "expected_ids"),
    [
        ("gpus", REQUIRED_GPUS),
        ("models", REQUIRED_MODELS),
        ("quantization", sorted(set(REQUIRED_WEIGHTS) | set(REQUIRED_KV))),
        ("apis", ["gpt-4o", "claude-3.5-sonnet", "deepseek-v3"]),
    ],
)
def test_catalog_command_json(kind: str, expected_ids: list[str]) -> None:
    result = CliRunner().invoke(main, ["catalog", kind, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert isinstance(rows, list)
    assert rows
    for row in rows:
        assert isinstance(row.get("source"), str)
        assert row["source"].strip(), row
        assert row.get("as_of"), row
    ids = {row["id"] for row in rows}
    assert set(expected_ids) <= ids


def test_catalog_command_unknown_kind() -> None:
    result = CliRunner().invoke(main, ["catalog", "gpu"])
    assert result.exit_code == 2
    assert "gpus" in result.output
    assert "Traceback" not in result.output


def test_the_2026_gpus_follow_bandwidth_when_decoding_and_compute_when_prefilling() -> None:
    """GH200 (96 GB as rented, 144 GB HBM3e) and GB200 behave as their specs say: decode at
    batch 1 is bandwidth-bound, so its speed follows HBM bandwidth; a long prefill is
    compute-bound, so it follows the tensor peak."""
    from simplan import api

    def run(gpu: str, batch: int, prompt: int) -> dict[str, float]:
        return api.estimate(
            model="llama-3.1-8b", gpu=gpu, batch=batch, input_tokens=prompt, output_tokens=64
        )

    small, large = run("gh200-96gb", 1, 64), run("gh200-144gb", 1, 64)
    bw = (
        catalog.gpu("gh200-144gb").hbm_bandwidth_gb_per_s
        / catalog.gpu("gh200-96gb").hbm_bandwidth_gb_per_s
    )
    speedup = small["tpot_s"] / large["tpot_s"]
    assert 0.85 * bw < speedup <= bw * 1.01, (speedup, bw)
    b200, gb200 = run("b200", 8, 8192), run("gb200", 8, 8192)
    flops = catalog.gpu("gb200").tflops_fp16 / catalog.gpu("b200").tflops_fp16
    assert 1.0 < b200["ttft_s"] / gb200["ttft_s"] <= flops * 1.01


def _arch(m: ModelArch) -> dict[str, object]:
    own = ("id", "display_name", "source", "as_of", "notes", "same_architecture_as")
    return {k: v for k, v in m.model_dump().items() if k not in own}


@pytest.mark.parametrize(
    "model_id", [k for k, m in catalog.load("model").items() if m.same_architecture_as]
)
def test_a_shared_architecture_is_its_base_with_its_own_source(model_id: str) -> None:
    m = catalog.model(model_id)
    base = catalog.model(m.same_architecture_as)
    assert _arch(m) == _arch(base)
    assert m.source != base.source and m.display_name != base.display_name


def test_deepseek_r1_and_v3_1_run_as_deepseek_v3() -> None:
    assert catalog.model("deepseek-r1").same_architecture_as == "deepseek-v3"
    assert catalog.model("deepseek-v3.1").same_architecture_as == "deepseek-v3"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"same_architecture_as": "deepseek-v4"}, "did you mean 'deepseek-v3'"),
        ({"same_architecture_as": "r1"}, "itself shares 'deepseek-v3'"),
        ({"same_architecture_as": "deepseek-v3", "num_layers": 3}, "states only"),
    ],
)
def test_a_bad_shared_architecture_names_the_entry_and_key(entry: dict, says: str) -> None:
    from simplan.catalog import _with_shared_architectures

    raw = {
        "deepseek-v3": {"num_layers": 61, "source": "x" * 5, "as_of": "2024-12-26"},
        "r1": {"same_architecture_as": "deepseek-v3", "source": "y" * 5, "as_of": "2025-01"},
        "new": {**entry, "source": "z" * 5, "as_of": "2025-08"},
    }
    with pytest.raises(CatalogError) as err:
        _with_shared_architectures(raw, "models.toml")
    text = str(err.value)
    assert "models.toml" in text and "new." in text and says in text, text
