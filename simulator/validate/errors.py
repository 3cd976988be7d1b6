"""How wrong the predictions are: by source and metric, by any grouping, and whether the
bands the commands state hold the measurements (:mod:`simplan.validate.bands`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from simplan.calibration import constants
from simplan.validate.bands import band_coverage
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
        "band": band_coverage(rows, constants().get("error_bands", {})),
    }
