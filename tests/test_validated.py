"""Answers name the GPUs and models that no published measurement checks."""

from __future__ import annotations

from typing import Any

import pytest
from simplan import catalog
from simplan.metrics import summarize
from simplan.provenance import provenance_rows
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate
from simplan.validated import _table, checked, uncalibrated_note


def _scenario(gpu: str, model: str = "llama-3.1-8b"):
    return scenario_from_dict(
        {
            "model": {"name": model},
            "hardware": {"gpu": gpu},
            "workload": {"rate_per_s": 1.0, "num_requests": 20},
        }
    )


def test_the_table_names_catalog_ids_only() -> None:
    kinds = {"gpu": catalog.load("gpu"), "model": catalog.load("model")}
    for kind, known in kinds.items():
        assert _table()[kind], kind
        assert set(_table()[kind]) <= set(known), kind
    assert checked("gpu", "h100-sxm")["rows"] > 100  # type: ignore[index]


def test_a_run_on_an_unchecked_gpu_says_so_and_a_checked_one_does_not() -> None:
    assert checked("gpu", "h20-3e") is None
    notes = summarize(simulate(_scenario("h20-3e")))["notes"]
    [note] = [n for n in notes if n.startswith("uncalibrated")]
    assert "h20-3e" in note and "H100" in note and "ridge point" in note
    assert not [n for n in summarize(simulate(_scenario("h100-sxm")))["notes"] if "uncalib" in n]


def test_an_unchecked_model_is_named_and_provenance_says_how_each_was_checked() -> None:
    assert checked("model", "kimi-k2") is None
    note = uncalibrated_note(["h100-sxm"], "kimi-k2")
    assert note is not None and "the model kimi-k2" in note and "h100-sxm" not in note
    rows = [r for r in provenance_rows(_scenario("h20")) if r["what"] == "checked"]
    by_id = {r["id"]: r["detail"] for r in rows}
    assert by_id["h20"].startswith("checked against 26 published measurements")
    assert "H100" in by_id["h20"]
    assert by_id["llama-3.1-8b"].startswith("checked against")


def test_an_engine_preset_no_measurement_under_load_checks_is_named() -> None:
    # SGLang's rows are batch 1: its memory and admission rules are not checked
    assert checked("engine", "sglang")["serving_rows"] == 0  # type: ignore[index]
    assert checked("engine", "tensorrt-llm")["serving_rows"] > 100  # type: ignore[index]
    note = uncalibrated_note(["h100-sxm"], "llama-3.1-8b", "sglang")
    assert note is not None and "sglang engine's memory and admission rules" in note
    assert uncalibrated_note(["h100-sxm"], "llama-3.1-8b", "vllm-v1") is None
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "h100-sxm"},
            "engine": {"name": "sglang"},
            "workload": {"rate_per_s": 1.0, "num_requests": 20},
        }
    )
    notes = summarize(simulate(sc))["notes"]
    assert any("sglang engine's memory and admission" in n for n in notes)


def test_an_engine_run_wider_than_its_measurements_names_its_host_costs() -> None:
    # vLLM V0's own host costs were fitted on AccelMark's single-GPU rows; its driver
    # prepares and broadcasts each step to every rank, which a tp=8 run would add
    assert checked("engine", "vllm-v0")["max_tp"] == 1  # type: ignore[index]
    note = uncalibrated_note(["h100-sxm"], "llama-3.1-8b", "vllm-v0", tp=8)
    assert note is not None and "vllm-v0 engine's host costs at tp=8" in note
    assert uncalibrated_note(["h100-sxm"], "llama-3.1-8b", "vllm-v0", tp=1) is None
    # TensorRT-LLM's rows run up to tp=8; vLLM V1 runs on the shared constants
    assert uncalibrated_note(["h100-sxm"], "llama-3.1-70b", "tensorrt-llm", tp=8) is None
    assert uncalibrated_note(["h100-sxm"], "llama-3.1-70b", "vllm-v1", tp=8) is None
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-3.1-70b"},
            "hardware": {"gpu": "h100-sxm", "tp": 4},
            "engine": {"name": "vllm", "version": "v0"},
            "workload": {"rate_per_s": 1.0, "num_requests": 20},
        }
    )
    notes = summarize(simulate(sc))["notes"]
    assert any("host costs at tp=4" in n for n in notes)


def test_a_model_sharing_an_architecture_is_checked_by_its_base(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import simplan.validated as v

    base = {"rows": 12, "median_abs_error": 0.08}
    monkeypatch.setattr(v, "_table", lambda: {"model": {"deepseek-v3": base}})
    assert checked("model", "deepseek-r1") == base
    assert checked("model", "kimi-k2") is None  # its own architecture, unchecked
    monkeypatch.setattr(v, "_table", lambda: {"model": {}})
    assert checked("model", "deepseek-r1") is None


def _moe_scenario(gpu: str):
    return scenario_from_dict(
        {
            "model": {"name": "qwen3-30b-a3b", "weights": "fp8", "kv_cache": "fp8"},
            "hardware": {"gpu": gpu},
            "workload": {"rate_per_s": 1.0, "num_requests": 20},
        }
    )


@pytest.fixture
def hopper_moe_lean(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The shipped table with MoE models on Hopper leaning: the model's serving
    throughput 15% above the published over 73 rows (as the table had them, +16%, until
    TensorRT-LLM's per-rank batch cap under attention DP, 2026-12-04)."""
    import simplan.validated as v

    real = _table()
    cell = {"rows": 73, "median_error": 0.15, "p10_error": -0.06, "p90_error": 0.39}
    leaning = {**real, "throughput_error": {**real["throughput_error"], "hopper/moe": cell}}
    monkeypatch.setattr(v, "_table", lambda: leaning)
    return cell


def test_a_run_where_published_throughput_ran_below_the_model_says_by_how_much(
    hopper_moe_lean: dict[str, Any],
) -> None:
    import simplan.validated as v

    cell = v.throughput_error("hopper", "moe")
    assert cell == hopper_moe_lean
    notes = summarize(simulate(_moe_scenario("h100-sxm")))["notes"]
    [note] = [n for n in notes if "serving throughput for moe models" in n]
    less = 1.0 - 1.0 / (1.0 + cell["median_error"])
    assert f"median {cell['median_error']:+.0%} over {int(cell['rows'])} rows" in note
    assert f"about {less:.0%} less than shown" in note and "on hopper GPUs" in note
    # the same GPUs with a dense model, where the model does not lean: no such note
    dense = summarize(simulate(_scenario("h100-sxm")))["notes"]
    assert not [n for n in dense if "serving throughput for" in n]


def test_the_note_needs_enough_rows_and_a_clear_lean(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import simplan.validated as v

    def table(rows: int, median: float) -> dict:
        cell = {"rows": rows, "median_error": median, "p10_error": -0.3, "p90_error": 0.1}
        return {"throughput_error": {"ampere/dense": cell}}

    monkeypatch.setattr(v, "_table", lambda: table(40, -0.2))
    note = v.bias_note(["a100-sxm4-80gb", "a100-sxm4-40gb"], "dense")
    # one family named once; capacity 1 / (1 - 0.2) = 1.25 of the prediction
    assert note is not None and note.count("on ampere GPUs") == 1
    assert "below the published measurements: median -20%" in note
    assert "about 25% more than shown" in note and "between -30% and +10%" in note
    assert v.bias_note(["a100-sxm4-80gb"], "moe") is None  # no cell for moe
    assert v.bias_note(["h100-sxm"], "dense") is None  # nor for hopper
    monkeypatch.setattr(v, "_table", lambda: table(40, 0.09))
    assert v.bias_note(["a100-sxm4-80gb"], "dense") is None  # within the noise
    monkeypatch.setattr(v, "_table", lambda: table(v.BIAS_MIN_ROWS - 1, 0.5))
    assert v.bias_note(["a100-sxm4-80gb"], "dense") is None  # too few rows


def test_a_sweeps_provenance_names_the_lean_for_each_gpu_it_applies_to(
    hopper_moe_lean: dict[str, Any],
) -> None:
    swept = {"hardware.gpu": ["h100-sxm", "h200", "b200"]}
    rows = provenance_rows(_moe_scenario("h200"), swept)
    leans = {r["id"]: r["detail"] for r in rows if r["what"] == "lean"}
    assert set(leans) == {"h100-sxm / moe", "h200 / moe"}  # Blackwell's MoE rows do not lean
    assert all("on hopper GPUs" in d for d in leans.values())
    assert not [r for r in provenance_rows(_scenario("h100-sxm"), swept) if r["what"] == "lean"]


def test_an_estimate_names_an_unchecked_gpu_and_model_too() -> None:
    from simplan import api

    out = api.estimate(model="kimi-k2", gpu="h20-3e", tp=8, weights="int4-awq")
    [note] = [n for n in out["notes"] if n.startswith("uncalibrated")]
    assert "h20-3e" in note and "the model kimi-k2" in note
    checked_out = api.estimate(model="llama-3.1-8b", gpu="h100-sxm")
    assert not [n for n in checked_out["notes"] if n.startswith("uncalibrated")]


def test_a_sweep_prints_what_no_measurement_checks_and_the_lean_once(
    hopper_moe_lean: dict[str, Any],
) -> None:
    from simplan.console_plan import provenance_notes

    swept = {"hardware.gpu": ["h100-sxm", "h200", "h20-3e"]}
    notes = provenance_notes(provenance_rows(_moe_scenario("h200"), swept))
    assert [n for n in notes if n.startswith("h20-3e: uncalibrated")]
    # H100 and H200 share the Hopper lean: said once
    assert len([n for n in notes if "on hopper GPUs" in n]) == 1
    assert not provenance_notes(provenance_rows(_scenario("h100-sxm")))
