"""`simplan calibrate`'s inputs and outputs: the log formats, malformed logs, the output
it refuses to overwrite, and a profile that every command applies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from simplan import api
from simplan.benchlogs import read_logs
from simplan.cli import main
from simplan.fit import replica_cfg
from simplan.scenario import load_scenario

DEPLOYMENT = """
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 2.0
num_requests = 60
input_tokens = 800
output_tokens = 120
"""

VLLM_LOG = {
    "date": "20261130-120000",
    "backend": "vllm",
    "model_id": "meta-llama/Llama-3.1-8B-Instruct",
    "request_rate": "inf",
    "burstiness": 1.0,
    "max_concurrency": 16,
    "duration": 30.0,
    "completed": 200,
    "total_input_tokens": 200 * 800,
    "total_output_tokens": 200 * 120,
    "output_throughput": 800.0,
    "mean_ttft_ms": 40.0,
    "median_ttft_ms": 35.0,
    "p99_ttft_ms": 90.0,
    "mean_tpot_ms": 12.0,
    "median_tpot_ms": 11.5,
    "p99_tpot_ms": 15.0,
    "p99.9_tpot_ms": 19.0,
}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def write(path: Path, obj: object) -> Path:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def test_vllm_result_json_is_read_with_its_units(tmp_path: Path) -> None:
    (run,) = read_logs([write(tmp_path / "a.json", VLLM_LOG)])
    assert run.format == "vllm"
    assert math.isinf(run.request_rate_per_s) and run.max_concurrency == 16
    assert run.label == "concurrency 16"
    assert run.mean_input_tokens == 800 and run.mean_output_tokens == 120
    assert run.measured["ttft_mean_s"] == pytest.approx(0.040)
    assert run.measured["ttft_p50_s"] == pytest.approx(0.035)  # vLLM's "median"
    assert run.measured["tpot_p99_s"] == pytest.approx(0.015)
    assert run.measured["output_tokens_per_s"] == 800.0
    assert not any("99.9" in k for k in run.measured)  # no simplan statistic for it


def test_sglang_jsonl_one_run_per_line_with_bare_infinity(tmp_path: Path) -> None:
    line = {
        "backend": "sglang",
        "request_rate": 4.0,
        "max_concurrency": None,
        "completed": 100,
        "total_input_tokens": 50_000,
        "total_output_tokens": 20_000,
        "output_throughput": 700.0,
        "mean_e2e_latency_ms": 5000.0,
        "median_e2e_latency_ms": 4800.0,
        "mean_ttft_ms": 50.0,
        "details": {"input_lens": [500] * 100, "output_lens": [200] * 100},
    }
    text = json.dumps(line) + "\n" + json.dumps({**line, "request_rate": math.inf}) + "\n"
    assert "Infinity" in text  # as SGLang writes it
    runs = read_logs([write(tmp_path / "s.jsonl", text)])
    assert [r.format for r in runs] == ["sglang", "sglang"]
    assert runs[0].request_rate_per_s == 4.0 and math.isinf(runs[1].request_rate_per_s)
    assert runs[0].measured["e2e_p50_s"] == pytest.approx(4.8)
    assert runs[0].input_lens is not None and runs[0].input_lens.size == 100
    assert runs[1].source.endswith("s.jsonl:2")


@pytest.mark.parametrize(
    "config",
    [
        {"concurrency": 8, "model_names": ["m"]},  # GenAI-Perf (flat arguments)
        {"loadgen": {"concurrency": 8}, "model_names": ["m"]},  # AIPerf
        {"perf_analyzer": {"stimulus": {"concurrency": 8}}, "model_names": ["m"]},
    ],
)
def test_genai_perf_and_aiperf_exports(tmp_path: Path, config: dict) -> None:
    export = {
        "time_to_first_token": {"unit": "ms", "avg": 30.0, "p50": 28.0, "p99": 60.0},
        "inter_token_latency": {"unit": "ms", "avg": 10.0, "p99": 14.0},
        "request_latency": {"unit": "ms", "avg": 1300.0},
        "output_token_throughput": {"unit": "tokens/sec", "avg": 750.0},
        "input_sequence_length": {"unit": "tokens", "avg": 550.0},
        "output_sequence_length": {"unit": "tokens", "avg": 128.0},
        "input_config": config,
    }
    (run,) = read_logs([write(tmp_path / "profile_export_genai_perf.json", export)])
    assert run.format == "genai-perf"
    assert run.max_concurrency == 8 and math.isinf(run.request_rate_per_s)
    # GenAI-Perf's per-request inter-token latency is (latency - TTFT) / (tokens - 1): TPOT
    assert run.measured["tpot_mean_s"] == pytest.approx(0.010)
    assert run.measured["ttft_p99_s"] == pytest.approx(0.060)
    assert run.mean_input_tokens == 550.0


def _bad(tmp_path: Path, case: str) -> tuple[list[Path], str]:
    """Logs that cannot be calibrated from, and the field the error must name."""
    good = {**VLLM_LOG}
    if case == "missing field":
        log = {k: v for k, v in good.items() if k != "total_output_tokens"}
        return [write(tmp_path / "a.json", log)], "total_output_tokens"
    if case == "zero completed":
        return [write(tmp_path / "a.json", {**good, "completed": 0})], "completed"
    if case == "NaN":
        text = json.dumps(good).replace('"mean_ttft_ms": 40.0', '"mean_ttft_ms": NaN')
        return [write(tmp_path / "a.json", text)], "mean_ttft_ms"
    if case == "not JSON":
        return [write(tmp_path / "a.json", "date,backend\n1,vllm\n")], "not JSON"
    if case == "mixed models":
        other = {**good, "model_id": "Qwen/Qwen3-8B"}
        return [write(tmp_path / "a.json", good), write(tmp_path / "b.json", other)], "model_id"
    if case == "nothing to fit":
        keep = ("completed", "total_input_tokens", "total_output_tokens", "request_rate")
        return [write(tmp_path / "a.json", {k: good[k] for k in keep})], "mean_ttft_ms"
    if case == "trace-timed":
        return [write(tmp_path / "a.json", {**good, "request_rate": "trace"})], "request_rate"
    if case == "missing file":
        return [tmp_path / "nope.json"], "no such benchmark log"
    if case == "ramped rate":
        log = {**good, "request_rate": "inf", "ramp_up_strategy": "linear"}
        return [write(tmp_path / "a.json", log)], "ramp_up_strategy"
    if case == "nested too deeply":
        return [write(tmp_path / "a.json", "[" * 100_000 + "]" * 100_000)], "nested too deeply"
    if case == "one run":
        return [write(tmp_path / "a.json", good)], "at least two runs"
    if case == "throughput at a rate":
        at_rate = {k: v for k, v in good.items() if not k.endswith("_ms")}
        at_rate["request_rate"] = 4.0
        logs = [write(tmp_path / "a.json", good), write(tmp_path / "b.json", at_rate)]
        return logs, "at least two runs"
    raise AssertionError(case)


CASES = [
    "missing field",
    "zero completed",
    "NaN",
    "not JSON",
    "mixed models",
    "nothing to fit",
    "trace-timed",
    "missing file",
    "ramped rate",
    "nested too deeply",
    "one run",
    "throughput at a rate",
]


@pytest.mark.parametrize("case", CASES)
def test_malformed_logs_exit_2_naming_file_and_field(tmp_path: Path, case: str) -> None:
    logs, field = _bad(tmp_path, case)
    write(tmp_path / "dep.toml", DEPLOYMENT)
    out = tmp_path / "profile.toml"
    code, output = invoke(
        "calibrate", *map(str, logs), "--scenario", str(tmp_path / "dep.toml"), "-o", str(out)
    )
    assert code == 2, output
    assert "Traceback" not in output
    assert field in output
    assert any(p.name in output for p in logs)
    assert not out.exists() and not out.with_suffix(".png").exists()


def test_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: Path) -> None:
    log = write(tmp_path / "a.json", VLLM_LOG)
    write(tmp_path / "dep.toml", DEPLOYMENT)
    mine = write(tmp_path / "notes.toml", "title = 'my own notes'\n")
    code, output = invoke(
        "calibrate", str(log), "--scenario", str(tmp_path / "dep.toml"), "-o", str(mine)
    )
    assert code == 2 and "never overwrites" in output
    assert mine.read_text() == "title = 'my own notes'\n"


def test_unknown_factor_names_the_nearest(tmp_path: Path) -> None:
    log = write(tmp_path / "a.json", VLLM_LOG)
    write(tmp_path / "dep.toml", DEPLOYMENT)
    code, output = invoke(
        "calibrate",
        str(log),
        "--scenario",
        str(tmp_path / "dep.toml"),
        "--factors",
        "compute_efficiency_scal",
        "--no-write",
    )
    assert code == 2
    assert "did you mean 'compute_efficiency_scale'" in output


PROFILE = """# simplan calibration profile
[factors]
compute_efficiency_scale = 0.8
iteration_overhead_s = 0.004
sequence_overhead_s = 2e-05
gpu = "{gpu}"
[fit]
date = "2026-12-01"
logs = ["a.json", "b.json"]
"""


def _summary(tmp_path: Path, name: str, engine: str) -> dict:
    path = write(
        tmp_path / f"{name}.toml", DEPLOYMENT.replace("[workload]", engine + "\n[workload]")
    )
    return api.run(path, write=False)


def test_a_profile_is_applied_by_run_and_by_the_fast_path(tmp_path: Path) -> None:
    write(tmp_path / "prof.toml", PROFILE.format(gpu="h100-sxm"))
    write(tmp_path / "other.toml", PROFILE.format(gpu="a100-sxm4-80gb"))
    plain = _summary(tmp_path, "plain", "")
    profiled = _summary(tmp_path, "profiled", '[engine]\ncalibration = "prof.toml"')
    inline = _summary(
        tmp_path,
        "inline",
        "[engine.calibration]\ncompute_efficiency_scale = 0.8\niteration_overhead_s = 0.004\n"
        "sequence_overhead_s = 2e-05",
    )
    elsewhere = _summary(tmp_path, "elsewhere", '[engine]\ncalibration = "other.toml"')
    # the profile's host overheads slow every token; the file and the inline table agree
    assert profiled["tpot_s"]["mean"] > 1.2 * plain["tpot_s"]["mean"]
    assert profiled["tpot_s"] == inline["tpot_s"] and profiled["ttft_s"] == inline["ttft_s"]
    # measured on another GPU: not applied to this one
    assert elsewhere["tpot_s"] == plain["tpot_s"]
    # sweep and plan screen with replica_cfg: the same factors reach the fast path
    cfg_plain, _ = replica_cfg(load_scenario(tmp_path / "plain.toml"))
    cfg_prof, _ = replica_cfg(load_scenario(tmp_path / "profiled.toml"))
    from simplan.kernels import layout as c

    assert cfg_prof[c.T_ITER_S] == 0.004 and cfg_prof[c.T_SEQ_S] == 2e-05
    assert cfg_prof[c.ETA_C] == pytest.approx(0.8 * cfg_plain[c.ETA_C])
    assert cfg_prof[c.ETA_M] == cfg_plain[c.ETA_M]


def test_a_run_names_its_profile_in_the_provenance(tmp_path: Path) -> None:
    write(tmp_path / "prof.toml", PROFILE.format(gpu="h100-sxm"))
    path = write(
        tmp_path / "s.toml",
        DEPLOYMENT.replace("[workload]", '[engine]\ncalibration = "prof.toml"\n[workload]'),
    )
    from simplan.provenance import provenance_rows

    rows = [
        r for r in provenance_rows(load_scenario(path)) if r["what"] == "deployment calibration"
    ]
    assert len(rows) == 1
    assert rows[0]["id"] == "prof.toml" and "2 benchmark run(s)" in rows[0]["source"]
    assert "compute efficiency x0.8" in rows[0]["detail"]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (None, "does not exist"),
        ("[factors]\ncompute_efficiency_scale = -1\n", "factors.compute_efficiency_scale"),
        ("[factors]\ncompute_efficency_scale = 0.9\n", "did you mean 'compute_efficiency_scale'"),
        ("title = 'x'\n", "no [factors] table"),
        ("[factors\n", "cannot read"),
    ],
)
def test_a_bad_profile_is_refused_by_check(
    tmp_path: Path, profile: str | None, expected: str
) -> None:
    if profile is not None:
        write(tmp_path / "prof.toml", profile)
    path = write(
        tmp_path / "s.toml",
        DEPLOYMENT.replace("[workload]", '[engine]\ncalibration = "prof.toml"\n[workload]'),
    )
    code, output = invoke("check", str(path))
    assert code == 2, output
    assert expected in output and "prof.toml" in output
    assert "Traceback" not in output


def test_the_sequence_overhead_is_paid_once_per_sequence_per_step() -> None:
    from simplan.kernels import layout as c
    from simplan.kernels.roofline import step_time_s
    from simplan.perf import replica_from_ids

    cfg = replica_from_ids("llama-3.1-8b", "h100-sxm").cfg.copy()
    base = [step_time_s(cfg, 512.0, 512.0 * 256.5, 1.0, 31.0, 31 * 900.0)]
    cfg[c.T_SEQ_S] = 3e-5
    # 1 prefill finishing + 31 decoding sequences: 32 sequences' host work
    assert step_time_s(cfg, 512.0, 512.0 * 256.5, 1.0, 31.0, 31 * 900.0) - base[0] == (
        pytest.approx(32 * 3e-5, rel=1e-9)
    )
