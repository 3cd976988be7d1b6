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


#: The share of real values a stated band holds: its ends are the error's
#: 50 (1 - BAND_COVERAGE)th and 50 (1 + BAND_COVERAGE)th percentiles (10th and 90th).
BAND_COVERAGE = 0.8


def band_for(bands: dict[str, Any], family: str, regime: str) -> tuple[float, float] | None:
    """(p10, p90) of a metric family in a regime from a table of bands
    (:mod:`simplan.validate.bands`): the regime's own band, else the family's."""
    band = bands.get(family)
    if band is None:
        return None
    own = band.get(regime)
    chosen = own if isinstance(own, dict) else band
    return float(chosen["p10"]), float(chosen["p90"])


def error_band(family: str = "throughput", regime: str = "serving") -> tuple[float, float]:
    """The model's signed error against published measurements for a metric family
    (``throughput``, ``ttft``, ``tpot``, ``e2e``) in a regime (``single``, ``batch``,
    ``serving``): its 10th and 90th percentile, an 80% band (``calibration.toml``
    ``[error_bands]``, written by ``tools/fit_error_bands.py``). Errors of latency
    families are in time: ``+0.2`` means the model's latency is 20% above the measured."""
    band = band_for(constants().get("error_bands", {}), family, regime)
    return band if band is not None else (0.0, 0.0)


def preset_overheads(preset: str, *, streaming: bool = True) -> dict[str, float]:
    """Host costs fitted for one engine preset (``vllm-v0``, ``sglang``, ``tensorrt-llm``;
    calibration.toml's ``[engine_overheads.<preset>]``, tools/fit_engine_overheads.py):
    ``iteration_overhead_s`` and/or ``sequence_overhead_s``; empty where the shared
    constants apply (vLLM V1).

    ``stream_sequence_overhead_s``, where a preset has it, is the extra host time per
    sequence per iteration of streaming each step's tokens to its client; it is added
    to ``sequence_overhead_s`` when the clients stream (``streaming``)."""
    table = constants().get("engine_overheads", {}).get(preset, {})
    keys = ("iteration_overhead_s", "sequence_overhead_s")
    costs = {k: float(table[k]) for k in keys if k in table}
    stream = float(table.get("stream_sequence_overhead_s", 0.0))
    if streaming and stream:
        costs["sequence_overhead_s"] = costs.get("sequence_overhead_s", 0.0) + stream
    return costs


def set_calibration_override(values: dict[str, Any]) -> None:
    """Replace calibration constants for this process (used by tools/calibrate.py)."""
    _CALIBRATION_OVERRIDE.clear()
    _CALIBRATION_OVERRIDE.update(values)
