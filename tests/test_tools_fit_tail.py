"""tools/fit_tail.py reuses a cached simulation only under the constants it ran with."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fit_tail() -> Any:
    spec = importlib.util.spec_from_file_location("fit_tail", ROOT / "tools" / "fit_tail.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(point: dict[str, Any]) -> dict[str, Any]:
    """Stands in for a simulation: the seed as its only statistic."""
    return {"rate_per_s": 1.0, "sim": {"ttft_s": [float(point["seed"])]}}


def test_a_refit_resimulates_instead_of_reusing_old_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ft = _fit_tail()
    cache = tmp_path / "design.json"
    points = [{"raw": {"name": "p"}, "load": 0.5}]
    first = ft.measure(points, cache, 1, 10, 2, run=fake_run)
    assert first[0]["sim"]["ttft_s"] == [1.5]  # the mean over seeds 1 and 2
    assert len(json.loads(cache.read_text())) == 2
    ft.measure(points, cache, 1, 10, 2, run=fake_run)
    assert len(json.loads(cache.read_text())) == 2  # reused, nothing new
    monkeypatch.setattr(ft, "model_fingerprint", lambda: "refitted")
    ft.measure(points, cache, 1, 10, 2, run=fake_run)
    assert len(json.loads(cache.read_text())) == 4  # both seeds again


def test_the_fingerprint_follows_the_calibration_constants() -> None:
    ft = _fit_tail()
    assert "calibration.toml" in ft.MODEL_CATALOGS
    assert ft.model_fingerprint() == ft.model_fingerprint()
    assert len(ft.model_fingerprint()) == 16
