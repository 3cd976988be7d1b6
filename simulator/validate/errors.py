"""How wrong the predictions are: by source and metric, by any grouping, and whether the
band the commands state holds the measurements."""

from __future__ import annotations

from typing import Any

import numpy as np
from simplan.calibration import error_band
from simplan.validate.rows import Row


def error_table(rows: list[Row]) -> list[dict[str, Any]]:
    """Median and p90 of |predicted/measured - 1| by source and metric, plus overall."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.source_id, r.metric), []).append(r)
    out = []
    for (src, metric), rs in sorted(groups.items()):
        errs = np.array([abs(r.rel_error) for r in rs if r.rel_error is not None])
        skipped = [r.skipped for r in rs if r.skipped]
        out.append(
            {
                "source_id": src,
                "metric": metric,
                "count": int(errs.size),
                "median_abs_error": float(np.median(errs)) if errs.size else None,
                "p90_abs_error": float(np.percentile(errs, 90)) if errs.size else None,
                "median_signed_error": float(
                    np.median([r.rel_error for r in rs if r.rel_error is not None])
                )
                if errs.size
                else None,
                "skipped": len(skipped),
                "skip_reasons": sorted(set(skipped)),
            }
        )
    return out


def band_coverage(rows: list[Row]) -> dict[str, Any]:
    """How often the measured value falls inside the band the commands state.

    ``plan``'s band divides capacity by ``1 + e`` for the signed error ``e`` between its
    10th and 90th percentile over the calibration set (``calibration.toml``), an 80% band:
    a measurement is inside it when its row's signed error lies in that range. On the
    calibration set itself this is about 80% by construction; on other data (the 2026
    set) it checks the band. Overall and per metric.
    """
    lo, hi = error_band()
    inside: dict[str, list[bool]] = {}
    for r in rows:
        if r.rel_error is not None:
            ok = lo <= r.rel_error <= hi
            inside.setdefault("all", []).append(ok)
            inside.setdefault(r.metric, []).append(ok)
    return {
        "nominal": 0.8,
        "error_range": [lo, hi],
        "coverage": {k: float(np.mean(v)) for k, v in sorted(inside.items())},
        "count": {k: len(v) for k, v in sorted(inside.items())},
    }


#: The groupings `simplan validate` reports the error by (Row attributes).
GROUPS = ("source_id", "metric", "model_family", "architecture", "gpu_family", "engine")


def error_by(rows: list[Row], key: str) -> dict[str, dict[str, float | int]]:
    """Median and p90 of |predicted/measured - 1| and the row count, by one grouping."""
    groups: dict[str, list[float]] = {}
    for r in rows:
        if r.rel_error is not None:
            groups.setdefault(getattr(r, key) or "unstated", []).append(abs(r.rel_error))
    return {
        k: {
            "count": len(v),
            "median_abs_error": float(np.median(v)),
            "p90_abs_error": float(np.percentile(v, 90)),
        }
        for k, v in sorted(groups.items())
    }


def summarize_errors(rows: list[Row]) -> dict[str, Any]:
    """Overall error, the error by each grouping in :data:`GROUPS`, and band coverage."""
    errs = np.array([abs(r.rel_error) for r in rows if r.rel_error is not None])
    return {
        "rows": len(rows),
        "predicted": int(errs.size),
        "skipped": len(rows) - int(errs.size),
        "median_abs_error": float(np.median(errs)) if errs.size else None,
        "p90_abs_error": float(np.percentile(errs, 90)) if errs.size else None,
        "median_abs_error_by_source": {
            k: float(v["median_abs_error"]) for k, v in error_by(rows, "source_id").items()
        },
        "by": {key: error_by(rows, key) for key in GROUPS},
        "band": band_coverage(rows),
    }
