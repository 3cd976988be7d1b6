"""Answers name the GPUs and models that no published measurement checks."""

from __future__ import annotations

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


def test_a_model_sharing_an_architecture_is_checked_by_its_base(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import simplan.validated as v

    base = {"rows": 12, "median_abs_error": 0.08}
    monkeypatch.setattr(v, "_table", lambda: {"model": {"deepseek-v3": base}})
    assert checked("model", "deepseek-r1") == base
    assert checked("model", "kimi-k2") is None  # its own architecture, unchecked
    monkeypatch.setattr(v, "_table", lambda: {"model": {}})
    assert checked("model", "deepseek-r1") is None
