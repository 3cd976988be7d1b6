"""The Python API. Each function here is one CLI command with the same arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simplan.catalog_view import catalog_rows
from simplan.scenario import Scenario, load_scenario, scenario_json_schema


def check(path: str | Path) -> Scenario:
    """Validate a scenario file without running it.

    Returns the validated :class:`~simplan.scenario.Scenario`; raises
    :class:`~simplan.errors.ScenarioError` naming every problem.
    """
    return load_scenario(path)


def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files."""
    return scenario_json_schema()


def catalog(kind: str) -> list[dict[str, Any]]:
    """Entries of one catalog (``gpus``, ``models``, ``quantization``, ``apis``) as dicts."""
    return catalog_rows(kind)


def to_json(obj: Any) -> str:
    """Stable JSON text (sorted keys) used by every ``--json`` output."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str, allow_nan=False)


def estimate(
    *,
    model: str,
    gpu: str,
    tp: int = 1,
    pp: int = 1,
    weights: str = "fp16",
    kv_cache: str = "fp16",
    batch: int = 1,
    input_tokens: int = 512,
    output_tokens: int = 128,
    gpu_memory_utilization: float = 0.90,
) -> dict[str, Any]:
    """Static-batch estimate (see :func:`simplan.estimate.estimate_static`)."""
    from simplan.estimate import estimate_static

    return estimate_static(
        model=model, gpu=gpu, tp=tp, pp=pp, weights=weights, kv_cache=kv_cache, batch=batch,
        input_tokens=input_tokens, output_tokens=output_tokens,
        gpu_memory_utilization=gpu_memory_utilization,
    )
