"""`simplan validate` reads every shipped calibration row in the source's own words."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest
from simplan import api
from simplan.scenario import NormalLength, scenario_from_dict
from simplan.validate import default_csvs, read_rows
from simplan.validate.names import gpu_id
from simplan.validate.rows import read_spec
from simplan.validate.wording import kv_id, lengths, weights_id
from simplan.workload import sample_lengths


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fp8 W8A8 static per-tensor (RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8, ...)", "fp8"),
        ("int4 weight-only W4A16 GPTQ (RedHatAI ...quantized.w4a16; GPTQ-Marlin)", "int4-gptq"),
        ("int4 GPTQ (GPTQ-Marlin kernel)", "int4-gptq"),
        ("int8 W8A8 (RedHatAI ...quantized.w8a8, compressed-tensors)", "int8"),
        ("int8 weight-only W8A16 (RedHatAI ...quantized.w8a16)", "int8-wo"),
        ("nvfp4 (nvidia/Llama-3.3-70B-Instruct-FP4)", "nvfp4"),
        ("native checkpoint (MXFP4 MoE experts), not restated in the post", "mxfp4"),
        ("unspecified (base checkpoint; BF16 implied)", "bf16"),
        ("int4-wo-g32", "int4-g32"),
        ("fp8_e4m3", "fp8"),
        ("bfloat16", "bf16"),
        ("AWQ", "int4-awq"),
        ("Qwen2.5-72B-Instruct GPTQ-Int8", "int8-wo"),
        ("a secret format", None),
    ],
)
def test_weight_descriptions_map_to_catalog_schemes(text: str, expected: str | None) -> None:
    assert weights_id(text) == expected


def test_a_bare_fp4_is_the_gpu_makers_format() -> None:
    assert weights_id("FP4", "b200") == "nvfp4"
    assert weights_id("fp4 (ROCm)", "mi355x") == "mxfp4"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("H200 (141GB)", "h200"),
        ("H20-96GB", "h20"),
        ("H20-3e 141GB", "h20-3e"),
        ("GH200 144G HBM3e", "gh200-144gb"),
        ("B200-180GB (DGX B200)", "b200"),
        ("GB200 NVL72", "gb200"),
        ("L40S-48GB (PCIe, no NVLink)", "l40s"),
        ("A100-SXM4-40GB", "a100-sxm4-40gb"),
        ("TPU v5e", None),
    ],
)
def test_gpu_names_map_to_catalog_ids_superchips_first(text: str, expected: str | None) -> None:
    assert gpu_id(text) == expected


def test_kv_dtype_follows_each_engines_default_when_unstated() -> None:
    # vLLM's "auto" is the activation dtype, even for an FP8 checkpoint
    assert kv_id("auto (= model dtype; not set)", "fp8", "vllm") == "fp16"
    # NVIDIA's FP8/NVFP4 checkpoints on TensorRT-LLM carry FP8 KV scales
    assert kv_id("unspecified", "nvfp4", "tensorrt-llm") == "fp8"
    assert kv_id("unspecified", "bf16", "tensorrt-llm") == "fp16"
    assert kv_id("unspecified (default bf16)", "fp8", "sglang") == "bf16"
    assert kv_id("fp8_e4m3", "bf16", "vllm") == "fp8"
    assert kv_id("bfloat16", "fp8", "vllm") == "bf16"
    assert kv_id("fp8 (skip sliding-window layers)", "mxfp4", "vllm") == "fp8"


def test_length_columns_numbers_ranges_and_sweeps() -> None:
    assert lengths("128").spec == 128
    spread = lengths("~20000 (+/-15%)")
    assert spread.spec == {"distribution": "uniform", "low": 17000, "high": 23000}
    assert spread.mean == 20000
    assert lengths("sweep 256 to ~125k").sweep == (256, 125000)
    assert lengths("natural EOS") is None
    # fixed lengths as tables print them; "k" is thousands, as in the sweep above
    for text, n in (("1,024", 1024), ("2K", 2000), ("~1000", 1000), ("ISL 1024", 1024)):
        assert lengths(text).spec == n, text  # type: ignore[union-attr]
    assert lengths("1024 tokens (ignore_eos)").spec == 1024  # type: ignore[union-attr]
    assert lengths("0") is None


def _raw(**kw: str) -> dict[str, str]:
    row = {
        "model": "Llama-3.1-8B-Instruct",
        "gpu": "H100-SXM-80GB",
        "precision_weights": "bf16",
        "precision_kv": "",
        "tp": "1",
        "n_gpus": "1",
        "batch_or_concurrency": "1",
        "input_len": "128",
        "output_len": "128",
        "rate_per_s": "",
        "engine": "",
    }
    return {**row, **kw}


def test_load_shapes() -> None:
    assert read_spec(_raw(batch_or_concurrency="8"), "S").shape == "static"
    closed = read_spec(_raw(batch_or_concurrency="concurrency 8"), "S")
    assert closed.shape == "closed" and closed.batch == 8
    poisson = read_spec(_raw(batch_or_concurrency="poisson", rate_per_s="5.0"), "S")
    assert poisson.shape == "poisson" and poisson.rate_per_s == 5.0
    assert read_spec(_raw(batch_or_concurrency="max load"), "S").shape == "max_load"
    assert read_spec(_raw(input_len="sweep 256 to ~125k"), "S").shape == "itl_fit"
    assert read_spec(_raw(batch_or_concurrency="poisson"), "S").startswith("load")
    assert read_spec(_raw(tp="8 (EP unspecified)", n_gpus="8"), "S").tp == 8


def test_a_named_dataset_draws_the_catalogs_lengths() -> None:
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "h100-sxm"},
            "workload": {
                "rate_per_s": 1.0,
                "num_requests": 10,
                "input_tokens": {"dataset": "sharegpt-accelmark"},
                "output_tokens": {"dataset": "sharegpt-accelmark"},
            },
        }
    )
    inp, out = sc.workload.input_tokens, sc.workload.output_tokens
    assert isinstance(inp, NormalLength) and inp.distribution == "lognormal"
    assert (inp.min, inp.max, out.max) == (64, 592, 512)
    x = sample_lengths(inp, 50_000, np.random.default_rng(0), sc, "input_tokens", 10**6)
    # the file's own statistics (AccelMark requests.jsonl): mean 236.3, median 198.5
    assert np.mean(x) == pytest.approx(236.3, rel=0.03)
    assert np.median(x) == pytest.approx(198.5, rel=0.03)


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ({"input_tokens": {"dataset": "sharegtp"}}, "did you mean 'sharegpt'"),
        ({"input_tokens": {"dataset": "sharegpt", "max": 9}}, "input_tokens.max = 9: unknown key"),
        ({"reasoning_tokens": {"dataset": "sharegpt"}}, "cannot come from a dataset"),
    ],
)
def test_bad_dataset_lengths_name_the_key_and_what_is_allowed(
    workload: dict[str, object], message: str
) -> None:
    from simplan.errors import SimplanError

    doc = {
        "model": {"name": "llama-3.1-8b"},
        "hardware": {"gpu": "h100-sxm"},
        "workload": {"rate_per_s": 1.0, "num_requests": 10, **workload},
    }
    with pytest.raises(SimplanError) as exc:
        scenario_from_dict(doc)
    text = str(exc.value)
    assert message in text
    assert "should be a valid integer" not in text  # the number branch is noise here


def test_every_shipped_row_is_read_or_skipped_for_a_stated_reason() -> None:
    reasons: Counter[str] = Counter()
    total = 0
    for path in default_csvs():
        for raw in read_rows(path):
            total += 1
            spec = read_spec(raw, raw["source_id"])
            if isinstance(spec, str):
                reasons[spec.split("'")[0]] += 1
    assert total >= 680
    # at least 90% of both files can be expressed (issue 14's coverage target)
    assert sum(reasons.values()) <= 0.10 * total, reasons


def test_the_2026_file_ships_with_its_sources() -> None:
    csv_path = default_csvs()[1]
    with csv_path.open(encoding="utf-8") as fh:
        ids = {r["source_id"] for r in csv.DictReader(fh)}
    sources = (csv_path.parent / "published_measurements_2026_SOURCES.md").read_text("utf-8")
    assert ids and all(f"### {i}" in sources for i in ids)


def test_validate_reports_the_error_by_every_grouping() -> None:
    result = api.validate(output_dir=None, max_load=False)
    by = result["summary"]["by"]
    assert set(by) == {
        "source_id",
        "metric",
        "model_family",
        "architecture",
        "gpu_family",
        "engine",
    }
    counted = sum(g["count"] for g in by["source_id"].values())
    assert counted == result["summary"]["predicted"]
    assert sum(g["count"] for g in by["architecture"].values()) == counted


def test_vllm_releases_before_0_8_ran_the_v0_engine() -> None:
    from simplan.validate.wording import vllm_version

    assert vllm_version("vllm 0.7.3 (AccelMark runner)") == "v0"
    assert vllm_version("vllm 0.19.1 (FlashAttention-3 fork)") == "v1"
    assert vllm_version("vllm 0.8.0") == "v1"
    assert vllm_version("sglang 0.4.6") is None
