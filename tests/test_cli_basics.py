"""The `simplan` command line: help, schema, checking the shipped scenarios, estimates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from simplan.cli import main

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.toml"))


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_help_lists_commands() -> None:
    code, output = invoke("--help")
    assert code == 0
    for command in ("check", "schema", "catalog", "estimate"):
        assert re.search(rf"^\s+{command}\s", output, re.MULTILINE), output


def test_version() -> None:
    code, output = invoke("--version")
    assert code == 0
    assert output.startswith("simplan")


def test_schema_is_json_schema() -> None:
    code, output = invoke("schema")
    assert code == 0
    schema = json.loads(output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object"
    props = schema["properties"]
    for section in ("model", "hardware", "engine", "workload", "slo", "pricing", "simulation"):
        assert section in props, section
    assert "sweep" in props
    assert set(schema["required"]) >= {"model", "hardware", "workload"}


def test_shipped_scenarios_exist() -> None:
    assert SCENARIOS, "no scenarios/*.toml found"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_shipped_scenario_passes_check(path: Path) -> None:
    code, output = invoke("check", str(path))
    assert code == 0, output
    assert f"{path}: ok" in output


def test_estimate_fits() -> None:
    code, output = invoke("estimate", "--model", "llama-2-7b", "--gpu", "a100-sxm4-80gb", "--json")
    assert code == 0, output
    result = json.loads(output)
    assert result["fits"] is True
    assert result["reason"] is None
    assert result["ttft_s"] > 0
    assert result["tpot_s"] > 0
    assert result["e2e_s"] >= result["ttft_s"]
    assert result["output_tokens_per_s"] > 0
    # 7B fp16 weights are about 12.6 GiB: far below 80 GB.
    assert 12 < result["weights_gib_per_gpu"] < 14
    assert result["kv_cache_capacity_tokens"] > 0
    assert result["max_batch"] >= 1


def test_estimate_table_output() -> None:
    code, output = invoke("estimate", "--model", "llama-2-7b", "--gpu", "a100-sxm4-80gb")
    assert code == 0, output
    assert "time to first token" in output
    assert "verdict:" in output


def test_estimate_typo_gpu() -> None:
    code, output = invoke("estimate", "--model", "llama-2-7b", "--gpu", "a100-sxm4-80g", "--json")
    assert code == 2
    assert "Traceback" not in output
    assert "a100-sxm4-80g" in output
    assert "did you mean 'a100-sxm4-80gb'?" in output


def test_estimate_typo_model() -> None:
    code, output = invoke("estimate", "--model", "llama-3.1-70", "--gpu", "h100-sxm")
    assert code == 2
    assert "Traceback" not in output
    assert "did you mean 'llama-3.1-70b'?" in output


def test_estimate_typo_weights() -> None:
    code, output = invoke(
        "estimate", "--model", "llama-2-7b", "--gpu", "h100-sxm", "--weights", "int4awq"
    )
    assert code == 2
    assert "Traceback" not in output
    assert "did you mean 'int4-awq'?" in output


def test_estimate_does_not_fit() -> None:
    code, output = invoke(
        "estimate",
        "--model",
        "deepseek-v3",
        "--gpu",
        "a100-sxm4-80gb",
        "--weights",
        "fp16",
        "--json",
    )
    assert code == 1, output
    result = json.loads(output)
    assert result["fits"] is False
    reason = result["reason"]
    # Names what is needed and what is available, in GiB.
    needed = re.search(r"needs ([\d.]+) GiB", reason)
    available = re.search(r"offers ([\d.]+) GiB", reason)
    assert needed and available, reason
    assert float(needed.group(1)) > 1000 > 72 >= float(available.group(1))
    assert "nearest that fits" in reason
    assert result["ttft_s"] is None
    assert result["tpot_s"] is None


def test_estimate_does_not_fit_table_exit_1() -> None:
    code, output = invoke("estimate", "--model", "deepseek-v3", "--gpu", "a100-sxm4-80gb")
    assert code == 1
    assert "does not fit" in output
    assert "Traceback" not in output


def test_every_command_is_a_thin_wrapper_with_the_api_s_parameter_names() -> None:
    """Each CLI command calls the API function of its name, and every option it takes is
    that function's parameter of the same name (the scenario or results argument is its
    ``path``; ``--json`` only chooses how the answer is printed)."""
    import inspect

    from simplan import api
    from simplan.cli import main

    for name, command in main.commands.items():
        function = getattr(api, name, None)
        assert callable(function), f"`simplan {name}` has no api.{name}"
        accepted = set(inspect.signature(function).parameters)
        for param in command.params:
            if param.name == "as_json":
                continue
            wanted = "path" if param.name in ("file", "results") else param.name
            assert wanted in accepted, (
                f"`simplan {name}` option {param.name!r} is not in api.{name}"
            )


def test_run_writes_its_report_through_the_api(tmp_path: Path) -> None:
    from simplan import api

    scenario = next(p for p in SCENARIOS if p.name == "high_volume.toml")
    summary = api.run(scenario, output_dir=tmp_path / "out", report=True)
    assert Path(summary["report_html"]).is_file()
    assert Path(summary["report_html"]).parent == tmp_path / "out"
    r = CliRunner().invoke(main, ["run", str(scenario), "--no-write", "--report"])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "write" in r.output


def test_a_regular_install_ships_every_subpackage() -> None:
    """``pip install .`` (not editable) installs the packages pyproject.toml lists: each
    folder of simulator/ with an ``__init__.py`` must be there (simplan.calibrate was not)."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"simplan", "simplan.kernels"} | {
        "simplan." + p.parent.name for p in (root / "simulator").glob("*/__init__.py")
    }
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
