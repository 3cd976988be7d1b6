"""`[model] config = "config.json"`: architectures from Hugging Face configs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from simplan import api, catalog
from simplan.cli import main
from simplan.hf_config import architecture_from_config

CONFIGS = Path(__file__).parent / "data" / "configs"
MODELS = [
    "llama-3.1-8b",
    "mixtral-8x7b",
    "deepseek-v3",
    "deepseek-v3.2",
    "qwen2.5-72b",
    "qwen3-235b-a22b",
    "llama-4-maverick",
]


@pytest.mark.parametrize("model", MODELS)
def test_a_config_reproduces_the_catalog_entry_built_from_it(model: str) -> None:
    fields = architecture_from_config(CONFIGS / f"{model}.json")
    entry = catalog.model(model)
    for key, value in fields.items():
        if key.endswith("_params_b"):
            # counted from the shapes: within 2% of the published totals (8.03B, 671B, ...)
            assert value == pytest.approx(getattr(entry, key), rel=0.02), key
        else:
            assert value == getattr(entry, key), key


SCENARIO = """
[model]
{model}
[hardware]
gpu = "h100-sxm"
tp = 8
[workload]
rate_per_s = 2.0
num_requests = 40
input_tokens = 500
output_tokens = 100
"""


def test_a_run_from_a_config_equals_the_run_from_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "mixtral").mkdir()
    shutil.copy(CONFIGS / "mixtral-8x7b.json", tmp_path / "mixtral" / "config.json")
    by_config = tmp_path / "a.toml"
    by_config.write_text(SCENARIO.format(model='config = "mixtral/config.json"'), encoding="utf-8")
    by_name = tmp_path / "b.toml"
    by_name.write_text(SCENARIO.format(model='name = "mixtral-8x7b"'), encoding="utf-8")
    a, b = api.run(by_config, write=False), api.run(by_name, write=False)
    for key in ("ttft_s", "tpot_s", "output_tokens_per_s", "kv_cache_utilization"):
        assert a[key] == b[key], key


def test_a_nested_text_config_is_read(tmp_path: Path) -> None:
    inner = json.loads((CONFIGS / "llama-3.1-8b.json").read_text(encoding="utf-8"))
    (tmp_path / "c.json").write_text(json.dumps({"model_type": "wrapper", "text_config": inner}))
    assert architecture_from_config(tmp_path / "c.json")["num_layers"] == 32


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, "does not exist"),
        ("{not json", "cannot read"),
        ({"hidden_size": 4096}, "num_hidden_layers"),
        ({"num_hidden_layers": "32"}, "num_hidden_layers"),
        ("sparse step", "decoder_sparse_step"),
        ("no mlp", "intermediate_size"),
    ],
)
def test_unusable_configs_exit_2_naming_the_key(
    tmp_path: Path, config: object, expected: str
) -> None:
    path = tmp_path / "config.json"
    if config == "sparse step":
        # Qwen2-MoE's MoE-every-n-th-layer key (Llama 4's interleave_moe_layer_step is read)
        raw = json.loads((CONFIGS / "mixtral-8x7b.json").read_text(encoding="utf-8"))
        path.write_text(json.dumps({**raw, "decoder_sparse_step": 2}), encoding="utf-8")
    elif config == "no mlp":
        raw = json.loads((CONFIGS / "llama-3.1-8b.json").read_text(encoding="utf-8"))
        raw.pop("intermediate_size")
        path.write_text(json.dumps(raw), encoding="utf-8")
    elif isinstance(config, str):
        path.write_text(config, encoding="utf-8")
    elif config is not None:
        path.write_text(json.dumps(config), encoding="utf-8")
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO.format(model='config = "config.json"'), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(scenario)])
    assert result.exit_code == 2, result.output
    assert expected in result.output and "config.json" in result.output
    assert "Traceback" not in result.output


def test_name_and_config_together_are_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    body = 'name = "llama-3.1-8b"\nconfig = "x.json"'
    scenario.write_text(SCENARIO.format(model=body), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(scenario)])
    assert result.exit_code == 2 and "exactly one of" in result.output
