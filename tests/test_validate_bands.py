"""The uncertainty band `plan` states, checked against measurements by `simplan validate`."""

from __future__ import annotations

import pytest
from simplan import api
from simplan.calibration import constants as calibration
from simplan.validate import Row, band_coverage


def _row(predicted: float, measured: float, metric: str = "output_throughput_total") -> Row:
    return Row(1, "SRC", "m", "g", metric, measured, "tok/s", predicted=predicted)


def test_band_coverage_counts_rows_whose_signed_error_is_inside_the_band() -> None:
    lo, hi = float(calibration()["error_p10"]), float(calibration()["error_p90"])
    rows = [
        _row(100 * (1 + lo) * 1.01, 100),  # just inside at the low end
        _row(100 * (1 + hi) * 0.99, 100),  # just inside at the high end
        _row(100 * (1 + lo) * 0.9, 100),  # too low: outside
        _row(100 * (1 + hi) * 1.1, 100, metric="ttft_mean"),  # too high: outside
        _row(100, 100, metric="ttft_mean"),
        Row(1, "SRC", "m", "g", "ttft_mean", 5.0, "s", skipped="no prediction"),
    ]
    band = band_coverage(rows)
    assert band["error_range"] == [lo, hi] and band["nominal"] == 0.8
    assert band["coverage"]["all"] == pytest.approx(3 / 5)
    assert band["coverage"]["ttft_mean"] == pytest.approx(1 / 2)
    assert band["count"] == {"all": 5, "output_throughput_total": 3, "ttft_mean": 2}


def test_the_stated_80_percent_band_holds_70_to_90_percent_of_the_measurements() -> None:
    result = api.validate(output_dir=None, max_load=False)
    band = result["summary"]["band"]
    assert band["count"]["all"] >= 200
    assert 0.70 <= band["coverage"]["all"] <= 0.90, band
