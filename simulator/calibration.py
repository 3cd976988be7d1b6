"""The model's end-to-end calibration constants (``catalog/calibration.toml``, fitted by
``tools/calibrate.py`` and the other ``tools/fit_*.py`` scripts; docs/model.md): kernel
overhead scale, fixed memory reserve, host overheads per engine preset, and the signed
error band that ``plan`` and ``validate`` state."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

_CALIBRATION_OVERRIDE: dict[str, Any] = {}


@cache
def _calibration_file() -> dict[str, Any]:
    text = resources.files("simplan.catalog").joinpath("calibration.toml").read_text("utf-8")
    return tomllib.loads(text)


def constants() -> dict[str, Any]:
    """End-to-end calibration constants (see calibration.toml and docs/model.md)."""
    return {**_calibration_file(), **_CALIBRATION_OVERRIDE}


def error_band() -> tuple[float, float]:
    """The model's signed throughput error against published measurements, its 10th and
    90th percentile (``calibration.toml``: ``error_p10``, ``error_p90``)."""
    cal = constants()
    return float(cal.get("error_p10", 0.0)), float(cal.get("error_p90", 0.0))


def preset_overheads(preset: str) -> dict[str, float]:
    """Host costs fitted for one engine preset (``vllm-v0``; calibration.toml's
    ``[engine_overheads.<preset>]``): ``iteration_overhead_s`` and/or
    ``sequence_overhead_s``; empty where the shared constants apply."""
    table = constants().get("engine_overheads", {}).get(preset, {})
    keys = ("iteration_overhead_s", "sequence_overhead_s")
    return {k: float(table[k]) for k in keys if k in table}


def set_calibration_override(values: dict[str, Any]) -> None:
    """Replace calibration constants for this process (used by tools/calibrate.py)."""
    _CALIBRATION_OVERRIDE.clear()
    _CALIBRATION_OVERRIDE.update(values)
