"""User-facing errors of `simplan check` for mistakes in scenario files.

Every case writes a scenario to a temporary file, runs `simplan check FILE` and asserts on
what the user sees: exit status 2, the file path, the key path, the bad value, what is
allowed, the suggested id for typos, and never a traceback.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from simplan.cli import main

# --- a tiny TOML writer ------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(data: dict[str, Any]) -> str:
    """Top-level scalars, then one ``[table]`` per top-level dict; deeper dicts inline."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{_key(name)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# --- the valid base scenario and its mutations ----------------------------------------------

BASE: dict[str, Any] = {
    "name": "test scenario",
    "model": {"name": "llama-3.1-8b", "weights": "fp16", "kv_cache": "fp16"},
    "hardware": {"gpu": "a100-sxm4-80gb", "tp": 1, "pp": 1, "replicas": 2},
    "engine": {
        "max_num_seqs": 256,
        "max_num_batched_tokens": 8192,
        "gpu_memory_utilization": 0.9,
        "scheduler": "continuous",
    },
    "workload": {
        "arrival": "poisson",
        "rate_per_s": 2.0,
        "duration_s": 60,
        "input_tokens": 512,
        "output_tokens": {"distribution": "lognormal", "mean": 300, "std": 200, "max": 2000},
    },
    "slo": {"ttft_p95_s": 2.0, "tpot_p95_s": 0.1},
    "pricing": {"apis": ["gpt-4o", "deepseek-v3"]},
    "simulation": {"seed": 1},
}

DELETE = object()


def mutate(*edits: tuple[tuple[str, ...], Any]) -> dict[str, Any]:
    """A deep copy of BASE with each ``(key path tuple, value)`` set (or removed: DELETE)."""
    data = copy.deepcopy(BASE)
    for path, value in edits:
        cur = data
        for part in path[:-1]:
            cur = cur.setdefault(part, {})
        if value is DELETE:
            del cur[path[-1]]
        else:
            cur[path[-1]] = value
    return data


def run_check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", str(path)])
    return result.exit_code, result.output


def assert_user_error(code: int, output: str, path: Path, expected: list[str]) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    assert str(path) in output, output
    for fragment in expected:
        assert fragment in output, f"{fragment!r} missing from:\n{output}"


def test_base_scenario_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "base.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    code, output = run_check(path)
    assert code == 0, output
    assert "ok" in output


# Each case: (edits applied to BASE, fragments the output must contain).
# The fragments name the key path, the bad value (as repr), what is allowed and the hint.
CASES: dict[str, tuple[list[tuple[tuple[str, ...], Any]], list[str]]] = {
    "unknown-section-typo": (
        [(("hardwre",), {"gpu": "h100-sxm"})],
        ["hardwre", "unknown key", "did you mean 'hardware'?", "allowed:", "hardware"],
    ),
    "unknown-key-in-section": (
        [(("workload", "rate_per_sec"), 3.0)],
        ["workload.rate_per_sec", "unknown key", "did you mean 'rate_per_s'?", "allowed:"],
    ),
    "unknown-key-in-engine": (
        [(("engine", "max_num_seq"), 64)],
        ["engine.max_num_seq", "did you mean 'max_num_seqs'?", "allowed:"],
    ),
    "wrong-type-string-for-int": (
        [(("hardware", "tp"), "two")],
        ["hardware.tp", "'two'", "integer"],
    ),
    "negative-rate": (
        [(("workload", "rate_per_s"), -1.5)],
        ["workload.rate_per_s", "-1.5", "greater than or equal to 0.000001"],
    ),
    "negative-duration": (
        [(("workload", "duration_s"), -60)],
        ["workload.duration_s", "-60", "greater than 0"],
    ),
    "zero-replicas": (
        [(("hardware", "replicas"), 0)],
        ["hardware.replicas", "= 0", "greater than or equal to 1"],
    ),
    "gpu-memory-utilization-above-1": (
        [(("engine", "gpu_memory_utilization"), 1.5)],
        ["engine.gpu_memory_utilization", "1.5", "less than or equal to 1"],
    ),
    "nan-rate": (
        [(("workload", "rate_per_s"), math.nan)],
        ["workload.rate_per_s", "nan", "finite"],
    ),
    "inf-rate": (
        [(("workload", "rate_per_s"), math.inf)],
        ["workload.rate_per_s", "inf", "finite"],
    ),
    "nan-gpu-memory-utilization": (
        [(("engine", "gpu_memory_utilization"), math.nan)],
        ["engine.gpu_memory_utilization", "nan"],
    ),
    "missing-model-section": (
        [(("model",), DELETE)],
        ["model", "required key is missing"],
    ),
    "missing-workload-section": (
        [(("workload",), DELETE)],
        ["workload", "required key is missing"],
    ),
    "missing-hardware-gpu": (
        [(("hardware", "gpu"), DELETE)],
        ["hardware.gpu", "required key is missing"],
    ),
    "poisson-without-rate": (
        [(("workload", "rate_per_s"), DELETE)],
        ["workload", "arrival = 'poisson' needs `rate_per_s`"],
    ),
    "closed-without-concurrency": (
        [(("workload", "arrival"), "closed"), (("workload", "rate_per_s"), DELETE)],
        ["workload", "arrival = 'closed' needs `concurrency`"],
    ),
    "client-send-time-outside-a-closed-loop": (
        [(("workload", "client_send_s"), 0.001)],
        ["workload", "`client_send_s` is a closed loop's send time", "'poisson'"],
    ),
    "trace-without-trace": (
        [(("workload", "arrival"), "trace"), (("workload", "rate_per_s"), DELETE)],
        ["workload", "arrival = 'trace' needs `trace`"],
    ),
    "offline-without-num-requests": (
        [(("workload", "arrival"), "offline"), (("workload", "rate_per_s"), DELETE)],
        ["workload", "arrival = 'offline' needs `num_requests`"],
    ),
    "unknown-arrival": (
        [(("workload", "arrival"), "poison")],
        ["workload.arrival", "'poison'", "'poisson'", "'closed'", "'trace'"],
    ),
    "model-name-and-architecture": (
        [
            (
                ("model", "architecture"),
                {
                    "num_layers": 32,
                    "hidden_size": 4096,
                    "num_attention_heads": 32,
                    "num_kv_heads": 8,
                    "head_dim": 128,
                    "intermediate_size": 14336,
                    "vocab_size": 128256,
                    "max_context_tokens": 8192,
                    "total_params_b": 8.0,
                },
            )
        ],
        ["model", "exactly one of `name`", "`architecture`"],
    ),
    "model-neither-name-nor-architecture": (
        [(("model", "name"), DELETE)],
        ["model", "exactly one of `name`"],
    ),
    "unknown-gpu-id": (
        [(("hardware", "gpu"), "a100-sxm4-80g")],
        [
            "hardware.gpu",
            "'a100-sxm4-80g'",
            "did you mean 'a100-sxm4-80gb'?",
            "allowed:",
            "h100-sxm",
        ],
    ),
    "unknown-model-id": (
        [(("model", "name"), "llama-3.1-70")],
        ["model.name", "'llama-3.1-70'", "did you mean 'llama-3.1-70b'?", "allowed:"],
    ),
    "unknown-weights-id": (
        [(("model", "weights"), "int4awq")],
        ["model.weights", "'int4awq'", "did you mean 'int4-awq'?", "allowed:", "int4-gptq"],
    ),
    "unknown-kv-cache-id": (
        [(("model", "kv_cache"), "fp9")],
        ["model.kv_cache", "'fp9'", "allowed:", "fp8", "int8"],
    ),
    "unknown-api-id": (
        [(("pricing", "apis"), ["gpt4o"])],
        ["pricing.apis", "'gpt4o'", "did you mean 'gpt-4o'?", "allowed:"],
    ),
    "unknown-api-id-second-entry": (
        [(("pricing", "apis"), ["gpt-4o", "claude-3.5-sonet"])],
        ["pricing.apis", "[1]", "'claude-3.5-sonet'", "did you mean 'claude-3.5-sonnet'?"],
    ),
    "unknown-length-distribution": (
        [(("workload", "input_tokens"), {"distribution": "gaussian", "mean": 500, "std": 10})],
        ["workload.input_tokens", "'gaussian'", "'fixed'", "'uniform'", "'lognormal'"],
    ),
    "uniform-high-below-low": (
        [(("workload", "input_tokens"), {"distribution": "uniform", "low": 800, "high": 100})],
        ["workload.input_tokens", "`high` (100) must be >= `low` (800)"],
    ),
    "length-distribution-unknown-key": (
        [(("workload", "input_tokens"), {"distribution": "fixed", "valu": 100})],
        ["workload.input_tokens", "valu"],
    ),
    "diurnal-23-entries": (
        [(("workload", "diurnal"), [1.0] * 23)],
        ["workload.diurnal", "24"],
    ),
    "diurnal-negative-entry": (
        [(("workload", "diurnal"), [1.0] * 23 + [-0.5])],
        ["workload.diurnal[23]", "-0.5", "greater than or equal to 0"],
    ),
    "unknown-scheduler": (
        [(("engine", "scheduler"), "fifo")],
        ["engine.scheduler", "'fifo'", "'continuous'", "'static'"],
    ),
    "unknown-router": (
        [(("engine", "router"), "random")],
        ["engine.router", "'random'", "'round_robin'", "'least_outstanding'"],
    ),
    "bad-block-size": (
        [(("engine", "block_size"), 24)],
        ["engine.block_size", "24", "16", "32"],
    ),
    "unknown-pricing-mode": (
        [(("hardware", "pricing"), "ondemand")],
        ["hardware.pricing", "'ondemand'", "'on_demand'", "'spot'", "'reserved'"],
    ),
    "pool-unknown-gpu": (
        [(("hardware", "pools"), [{"gpu": "h100-sxm"}, {"gpu": "h10", "replicas": 2}])],
        ["hardware.pools[1].gpu", "'h10'", "allowed:"],
    ),
    "slo-unknown-key": (
        [(("slo", "ttft_p96_s"), 1.0)],
        ["slo.ttft_p96_s", "unknown key", "did you mean", "allowed:"],
    ),
    "bad-sweep-key-path": (
        [(("sweep", "hardware.gpus"), ["h100-sxm", "a100-sxm4-80gb"])],
        ['sweep."hardware.gpus"', "not a scenario key path", "did you mean 'hardware.gpu'?"],
    ),
    "sweep-value-invalid": (
        [(("sweep", "hardware.gpu"), ["h100-sxm", "h999"])],
        ['sweep."hardware.gpu"[1]', "'h999'", "hardware.gpu", "allowed:"],
    ),
    "sweep-value-wrong-range": (
        [(("sweep", "engine.gpu_memory_utilization"), [0.8, 1.2])],
        ['sweep."engine.gpu_memory_utilization"[1]', "1.2", "less than or equal to 1"],
    ),
    "empty-sweep-axis": (
        [(("sweep", "hardware.tp"), [])],
        ["sweep", "'hardware.tp'", "is empty"],
    ),
    "sweep-log-range-nonpositive": (
        [(("sweep", "workload.rate_per_s"), {"start": 0, "stop": 8, "num": 4, "log": True})],
        ['sweep."workload.rate_per_s"', "start > 0"],
    ),
}


@pytest.mark.parametrize(("edits", "expected"), list(CASES.values()), ids=list(CASES))
def test_check_reports_mistake(
    tmp_path: Path, edits: list[tuple[tuple[str, ...], Any]], expected: list[str]
) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(to_toml(mutate(*edits)), encoding="utf-8")
    code, output = run_check(path)
    assert_user_error(code, output, path, expected)


def test_reports_every_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "many.toml"
    data = mutate(
        (("hardware", "gpu"), "h100sxm"),
        (("engine", "gpu_memory_utilization"), 2.0),
        (("workload", "rate_per_s"), -1.0),
    )
    path.write_text(to_toml(data), encoding="utf-8")
    code, output = run_check(path)
    assert_user_error(
        code,
        output,
        path,
        ["hardware.gpu", "'h100sxm'", "engine.gpu_memory_utilization", "workload.rate_per_s"],
    )


# --- files that are not valid TOML or not readable -------------------------------------

RAW_CASES: dict[str, tuple[bytes, list[str]]] = {
    "broken-toml-syntax": (
        b'[model]\nname = "llama-3.1-8b\n[hardware]\ngpu = "h100-sxm"\n',
        ["not valid TOML", "line 2"],
    ),
    "broken-toml-missing-value": (
        b"[hardware]\ngpu =\n",
        ["not valid TOML", "line 2"],
    ),
    "non-utf8-bytes": (
        to_toml(BASE).replace("test scenario", "caf\xe9").encode("latin-1"),
        ["not UTF-8", "line 1"],
    ),
    "empty-file": (
        b"",
        ["model", "hardware", "workload", "required key is missing"],
    ),
}


@pytest.mark.parametrize(("content", "expected"), list(RAW_CASES.values()), ids=list(RAW_CASES))
def test_check_reports_unreadable_content(
    tmp_path: Path, content: bytes, expected: list[str]
) -> None:
    path = tmp_path / "scenario.toml"
    path.write_bytes(content)
    code, output = run_check(path)
    assert_user_error(code, output, path, expected)


def test_check_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "does_not_exist.toml"
    code, output = run_check(path)
    assert_user_error(code, output, path, ["no such scenario file"])


def test_check_directory(tmp_path: Path) -> None:
    path = tmp_path / "a_folder.toml"
    path.mkdir()
    code, output = run_check(path)
    assert_user_error(code, output, path, ["directory"])


# --- regressions: bugs found and fixed ---


@pytest.mark.parametrize(
    "edits",
    [
        [
            (("hardware", "pools"), [{"gpu": "h100-sxm"}]),
            (("sweep", "hardware.pools.gpu"), ["h100-sxm", "h200"]),
        ],
        [
            (
                ("api",),
                [{"id": "mine", "usd_per_mtok_input": 1.0, "usd_per_mtok_output": 2.0}],
            ),
            (("sweep", "api.id"), ["a", "b"]),
        ],
    ],
    ids=["hardware.pools.gpu", "api.id"],
)
def test_sweep_through_array_of_tables(
    tmp_path: Path, edits: list[tuple[tuple[str, ...], Any]]
) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(to_toml(mutate(*edits)), encoding="utf-8")
    code, output = run_check(path)
    assert_user_error(code, output, path, ["sweep"])


def test_sweep_fractional_value_for_integer_key(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(to_toml(mutate((("sweep", "hardware.tp"), [1.5, 2]))), encoding="utf-8")
    code, output = run_check(path)
    assert_user_error(code, output, path, ['sweep."hardware.tp"[0]', "1.5"])


def test_length_distribution_unknown_key_suggests(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    data = mutate((("workload", "input_tokens"), {"distribution": "fixed", "valu": 100}))
    path.write_text(to_toml(data), encoding="utf-8")
    code, output = run_check(path)
    assert_user_error(code, output, path, ["workload.input_tokens.valu", "did you mean 'value'?"])
    assert "valid integer" not in output


def test_a_length_table_without_a_distribution_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    data = mutate((("workload", "input_tokens"), {"mean": 32000, "cv": 0.3}))
    path.write_text(to_toml(data), encoding="utf-8")
    code, output = run_check(path)
    assert_user_error(
        code, output, path, ["workload.input_tokens", "needs `distribution`", "only: mean, cv"]
    )
    assert "discriminator" not in output and "valid integer" not in output
