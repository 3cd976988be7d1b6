"""Rows in other sources' words are read as the shipped rows are: hub checkpoint names,
GPU marketing names, load wordings, replicas and the latency metrics serving benchmarks
print."""

from __future__ import annotations

import numpy as np
import pytest
from simplan.scenario import scenario_from_dict
from simplan.validate.names import dataset_id, gpu_id, latency_metric, model_id
from simplan.validate.predict import predict_row
from simplan.validate.rows import read_spec
from simplan.validate.wording import engine_of, vllm_version, weights_id
from simplan.workload import sample_lengths


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3-8b"),
        ("Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"),
        ("Llama-2-70b-chat-hf", "llama-2-70b"),
        ("llama3.1-405b", "llama-3.1-405b"),  # MLPerf's benchmark names
        ("llama2-70b", "llama-2-70b"),
        ("nvidia/Llama-3.3-70B-Instruct-FP8", "llama-3.3-70b"),
        ("RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16", "llama-3.1-8b"),
        ("Qwen3-235B-A22B-Instruct-2507", "qwen3-235b-a22b"),
        ("DeepSeek-R1-0528", "deepseek-r1"),
        # a revision date is stripped, but V3's own version number is not
        ("DeepSeek-V3-0324", "deepseek-v3"),
        ("DeepSeek-V3.1-Terminus", "deepseek-v3.1"),
        ("DeepSeek-R1-Distill-Llama-70B", "llama-3.3-70b"),
        ("Kimi-K2-Instruct-0905", "kimi-k2"),
        ("Llama-4-Scout-17B-16E-Instruct", "llama-4-scout"),
        ("GLM-4.5-Air", None),  # a different network from GLM-4.5
        ("Qwen3-Coder-480B-A35B-Instruct", None),
    ],
)
def test_hub_checkpoint_names_read_as_catalog_models(name: str, expected: str | None) -> None:
    assert model_id(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AMD Instinct MI300X 192GB", "mi300x"),
        ("MI325X", "mi325x"),
        ("A100-PCIe-80GB", "a100-pcie-80gb"),
        ("A10G (AWS g5)", "a10g"),
        # parts the catalog does not hold are not read as their neighbours
        ("A100 PCIe 40GB", None),
        ("H100 NVL 94GB", None),
        ("H200 NVL", None),
    ],
)
def test_gpu_marketing_names(name: str, expected: str | None) -> None:
    assert gpu_id(name) == expected


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("ttft_p99", ("ttft_s", "p99")),
        ("median_e2el_ms", ("e2e_s", "p50")),
        ("mean_tpot_ms", ("tpot_s", "mean")),
        ("itl_p50", ("tpot_s", "p50")),
        # a per-token gap's tail is not a per-request mean's tail
        ("itl_p99", None),
        ("ttft_p75", None),
        ("output_throughput_total", None),
    ],
)
def test_latency_metric_names(metric: str, expected: tuple[str, str] | None) -> None:
    assert latency_metric(metric) == expected


def _raw(**kw: str) -> dict[str, str]:
    row = {
        "source_id": "PROBE",
        "model": "Meta-Llama-3-8B-Instruct",
        "gpu": "H100-SXM-80GB",
        "precision_weights": "bf16",
        "precision_kv": "auto",
        "tp": "1",
        "n_gpus": "1",
        "batch_or_concurrency": "max load",
        "input_len": "256",
        "output_len": "64",
        "metric": "output_throughput_total",
        "value": "1.0",
        "unit": "tokens/s",
        "rate_per_s": "",
        "engine": "vllm 0.7.3",
    }
    return {**row, **kw}


@pytest.mark.parametrize("load", ["0", "-3", "concurrency 0", "request rate 0"])
def test_no_load_is_not_a_load(load: str) -> None:
    spec = read_spec(_raw(batch_or_concurrency=load), "PROBE")
    assert isinstance(spec, str) and "not understood" in spec


@pytest.mark.parametrize(
    ("load", "rate", "shape", "batch", "rate_per_s"),
    [
        ("Offline", "", "max_load", 0, None),
        ("16 concurrent users", "", "closed", 16, None),
        ("concurrency=64", "", "closed", 64, None),
        ("request rate 4.5", "", "poisson", 0, 4.5),
        ("server", "12", "poisson", 0, 12.0),
        ("batch size 8", "", "static", 8, None),
    ],
)
def test_load_wordings(load: str, rate: str, shape: str, batch: int, rate_per_s: float) -> None:
    spec = read_spec(_raw(batch_or_concurrency=load, rate_per_s=rate), "PROBE")
    assert not isinstance(spec, str)
    assert (spec.shape, spec.batch, spec.rate_per_s) == (shape, batch, rate_per_s)


def test_a_batch_of_dataset_lengths_is_clients_sending_in_turn() -> None:
    # AccelMark's interactive runs: one client, ShareGPT lengths, one request at a time
    raw = _raw(batch_or_concurrency="interactive", input_len="sharegpt_standard_v1 (500)")
    spec = read_spec(raw, "ACCELMARK_SUITE_A")
    assert not isinstance(spec, str)
    assert (spec.shape, spec.batch) == ("closed", 1)
    # every AccelMark suite ran the same runner and load generator
    assert spec.engine_knobs["max_num_seqs"] == 512 and spec.num_requests == 150


def test_a_wide_closed_loop_sends_several_rounds_per_client() -> None:
    narrow = read_spec(_raw(batch_or_concurrency="concurrency 8"), "PROBE")
    wide = read_spec(_raw(batch_or_concurrency="concurrency 256"), "PROBE")
    assert not isinstance(narrow, str) and not isinstance(wide, str)
    assert narrow.num_requests == 150 and wide.num_requests == 5 * 256


def test_gpus_beyond_one_replica_serve_more_replicas() -> None:
    spec = read_spec(_raw(n_gpus="8", tp="2 (PP2)"), "PROBE")
    assert not isinstance(spec, str)
    assert (spec.tp, spec.pp, spec.replicas) == (2, 2, 2)


def test_a_simulated_run_reports_tails_and_totals_consistently() -> None:
    cache: dict = {}
    one = {
        m: predict_row(_raw(metric=m, unit="ms"), 2, cache=cache).predicted
        for m in ("ttft_p50", "ttft_p99", "e2e_latency_mean", "tpot_mean")
    }
    assert None not in one.values()
    assert one["ttft_p50"] < one["ttft_p99"]
    # a request's time is its first token plus its other tokens' gaps
    assert one["e2e_latency_mean"] > one["ttft_p50"] + 62 * one["tpot_mean"] * 0.5
    out = predict_row(_raw(), 2, cache=cache).predicted
    total = predict_row(_raw(metric="total_throughput"), 2, cache=cache).predicted
    rps = predict_row(_raw(metric="request_throughput", unit="req/s"), 2, cache=cache).predicted
    assert out is not None and total is not None and rps is not None
    # every request is 256 + 64 tokens: the rates stand in that ratio
    assert total == pytest.approx(out * 320 / 64, rel=0.01)
    assert rps * 64 == pytest.approx(out, rel=0.01)
    # a user's rate averages each request's 1 / TPOT: at least 1 / (mean TPOT) (Jensen)
    user = predict_row(_raw(metric="tps_per_user"), 2, cache=cache).predicted
    assert user is not None and 1e3 / one["tpot_mean"] <= user < 1.5e3 / one["tpot_mean"]


@pytest.mark.parametrize(
    ("text", "model", "expected"),
    [
        ("sharegpt_standard_v1 (500 ShareGPT-GPT4 prompts)", "", "sharegpt-accelmark"),
        ("OpenOrca (MLPerf, 24,576 samples)", "llama-2-70b", "mlperf-openorca"),
        # Mixtral's MLPerf mix contains OpenOrca: the mix, not OpenOrca alone
        ("OpenOrca + GSM8K + MBXP", "mixtral-8x7b", "mlperf-mixtral"),
        ("MLPerf dataset", "llama-3.1-405b", "mlperf-llama3.1-405b"),
        ("MLPerf dataset", "qwen3-8b", None),
        ("ShareGPT V3 (vLLM benchmark_serving)", "llama-3.1-8b", "sharegpt"),
        ("natural EOS", "", None),
    ],
)
def test_dataset_names(text: str, model: str, expected: str | None) -> None:
    assert dataset_id(text, model) == expected


@pytest.mark.parametrize(
    ("dataset", "side", "mean", "p90"),
    [
        # MLCommons' accuracy targets: the tokens the reference model generates
        ("mlperf-openorca", "output_tokens", 294.45, None),
        ("mlperf-mixtral", "output_tokens", 144.84, None),
        # AMD's stated averages; p90s of the per-sample files (medians sit above the means)
        ("mlperf-llama3.1-405b", "input_tokens", 9428.0, 14156.0),
        ("mlperf-llama3.1-405b", "output_tokens", 684.68, 974.0),
        ("mlperf-deepseek-r1", "output_tokens", 3886.23, None),
    ],
)
def test_mlperf_datasets_draw_the_stated_lengths(
    dataset: str, side: str, mean: float, p90: float | None
) -> None:
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "h100-sxm"},
            "workload": {"rate_per_s": 1.0, "num_requests": 10, side: {"dataset": dataset}},
        }
    )
    dist = getattr(sc.workload, side)
    x = sample_lengths(dist, 100_000, np.random.default_rng(0), sc, side, 10**6)
    assert np.mean(x) == pytest.approx(mean, rel=0.02)
    if p90 is not None:
        assert np.percentile(x, 90) == pytest.approx(p90, rel=0.03)


@pytest.mark.parametrize(
    ("text", "engine", "version"),
    [
        ("TRT-LLM 1.0 (PyTorch backend)", "tensorrt-llm", None),
        ("MLPerf v5.0 NVIDIA submission (TensorRT-LLM)", "tensorrt-llm", None),
        ("NVIDIA NIM 1.3", "tensorrt-llm", None),
        ("vLLM v0.6.3", "vllm", "v0"),
        ("vLLM (V1 engine)", "vllm", "v1"),
        ("vllm 0.19.1", "vllm", "v1"),
        ("lmdeploy TurboMind", None, None),
    ],
)
def test_engine_names(text: str, engine: str | None, version: str | None) -> None:
    assert (engine_of(text), vllm_version(text)) == (engine, version)


def test_bands_cover_the_spellings_of_a_median_or_mean_but_no_tail() -> None:
    from simplan.validate.bands import metric_family

    assert metric_family("mean_ttft_ms") == ("ttft", 1)
    assert metric_family("median_e2el_ms") == ("e2e", 1)
    assert metric_family("tps_per_user") == ("tpot", -1)  # a rate: the inverse of a time
    assert metric_family("total_token_throughput") == ("throughput", 1)
    assert metric_family("p99_ttft_ms") is None


def test_a_row_stating_attention_dp_runs_its_moe_model_so() -> None:
    moe = _raw(model="DeepSeek-R1", gpu="B200", precision_weights="fp4", n_gpus="8")
    stated = read_spec(moe | {"tp": "8 (EP 8, attention DP)"}, "PROBE")
    in_notes = read_spec(moe | {"tp": "8", "notes": "--enable-dp-attention"}, "PROBE")
    unstated = read_spec(moe | {"tp": "8"}, "PROBE")
    dense = read_spec(_raw(n_gpus="8", tp="8 (attention DP)"), "PROBE")
    assert not any(isinstance(s, str) for s in (stated, in_notes, unstated, dense))
    assert stated.engine_knobs == in_notes.engine_knobs == {"attention_dp": True}
    # a dense model has no experts to spread: its attention stays tensor-parallel
    assert unstated.engine_knobs == {} and dense.engine_knobs == {}


# --- what a review of the readers found read wrongly (2026-12-04) ----------------------


@pytest.mark.parametrize(
    ("read", "text", "expected"),
    [
        # v0.2 dropped v0.1's sliding window: not the catalogued network
        (model_id, "Mistral-7B-Instruct-v0.2", None),
        (model_id, "Mistral-7B-Instruct-v0.1", "mistral-7b"),
        (gpu_id, "A100 SXM4 40 GB", "a100-sxm4-40gb"),
        (gpu_id, "A100-SXM4-80GB (DGX A100 640GB)", "a100-sxm4-80gb"),
        (gpu_id, "H100NVL", None),
        (engine_of, "NIM (vLLM backend)", "vllm"),
        (engine_of, "vLLM (compared to SGLang)", "vllm"),
        (vllm_version, "vLLM 0.9 (V0 engine)", "v0"),
        (vllm_version, "vllm==0.6.3", "v0"),
        (weights_id, "GPTQ 4-bit, int8 KV", "int4-gptq"),
        (weights_id, "AWQ (dtype float16)", "int4-awq"),
    ],
)
def test_names_the_review_found_misread(read, text: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    assert read(text) == expected


def test_datasets_the_review_found_misread() -> None:
    assert dataset_id("sharegpt4-sarathi") == "sharegpt4-sarathi"  # a catalog id
    assert dataset_id("ShareGPT4") is None  # GPT-4's answers, not ShareGPT V3
    assert dataset_id("GSM8K", "llama-3.1-8b") is None  # not MLPerf's Mixtral mix
    # a fixed output length beats the dataset's answers
    spec = read_spec(_raw(input_len="ShareGPT V3", output_len="256"), "PROBE")
    assert not isinstance(spec, str) and spec.output.spec == 256


@pytest.mark.parametrize(
    ("load", "rate", "expected"),
    [
        ("rate 4 req/min", "", None),
        ("server (8 qps)", "", ("poisson", 0, 8.0)),
        ("concurrency 1-64", "", None),
        ("concurrency 8", "5", None),  # a rate-capped loop is not modelled
        ("rate 1..2", "", None),
    ],
)
def test_loads_the_review_found_misread(load: str, rate: str, expected: tuple | None) -> None:  # type: ignore[type-arg]
    from simplan.validate.wording import load_shape

    assert load_shape(load, rate) == expected


def test_limits_and_settings_the_review_found_misread() -> None:
    from simplan.validate.wording import latency_limits_s, stated_knobs

    # a reported mean is not the limit
    text = "mean TTFT = 50 ms; TTFT p99 <= 2000 ms, TPOT p99 <= 200 ms"
    assert latency_limits_s(text) == (2.0, 0.2)
    for off in ("enable_attention_dp: false", "no ADP", "attention DP off"):
        assert stated_knobs({"tp": "8", "notes": off}) == {}, off


@pytest.mark.parametrize(
    ("tp", "n_gpus", "expected"),
    [("8", "2x8", (8, 1, 2)), ("DP2 TP4", "8", (4, 1, 2)), ("TP4PP2", "8", (4, 2, 1))],
)
def test_layouts_the_review_found_misread(tp: str, n_gpus: str, expected: tuple) -> None:  # type: ignore[type-arg]
    spec = read_spec(_raw(tp=tp, n_gpus=n_gpus), "PROBE")
    assert not isinstance(spec, str) and (spec.tp, spec.pp, spec.replicas) == expected
    assert "fewer than tp x pp" in str(read_spec(_raw(tp="8", n_gpus="4"), "PROBE"))


def test_time_units_and_one_token_answers() -> None:
    cache: dict = {}
    per_token = predict_row(_raw(metric="tpot_mean", unit="ms/token"), 2, cache=cache).predicted
    suffix = predict_row(_raw(metric="mean_tpot_ms", unit=""), 2, cache=cache).predicted
    seconds = predict_row(_raw(metric="tpot_mean", unit="s"), 2, cache=cache).predicted
    assert per_token is not None and per_token == suffix == pytest.approx(seconds * 1e3)
    wrong = predict_row(_raw(metric="tpot_mean", unit="tokens"), 2, cache=cache)
    assert wrong.predicted is None and "not a time unit" in str(wrong.skipped)
    one = _raw(batch_or_concurrency="1", output_len="1", metric="decode_tokens_per_s_per_request")
    assert "one-token answer" in str(predict_row(one, 2, cache=cache).skipped)
