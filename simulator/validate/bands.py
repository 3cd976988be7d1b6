"""The model's stated 80% bands, by metric family and regime, and how often they hold.

A band is fitted from the signed errors ``e = predicted / measured - 1`` of the
calibration rows of one metric family in one regime: the real value lies between
``predicted / (1 + e_90)`` and ``predicted / (1 + e_10)`` for the 10th and 90th
percentile of ``e``. Latency families are judged in time (a speed row's error is turned
into the error of its time per token), so one band reads the same way for a table of
tokens/s and one of milliseconds.

* Families: ``throughput`` (a fleet's tokens/s at max load or a static batch), ``ttft``
  (first-token latency), ``tpot`` (time per output token, decode speed), ``e2e``
  (a request's whole time).
* Regimes: ``single`` (one request at a time), ``batch`` (a static batch),
  ``serving`` (max load, a request rate or a concurrency: what a fleet plan is about).
  A (family, regime) with fewer than :data:`MIN_ROWS` rows uses its family's band.

Coverage is reported twice: on the rows the bands were fitted on (about 80% by
construction) and leaving each source out (its rows judged by bands fitted without it),
which is what a planner's new deployment sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from simplan.calibration import BAND_COVERAGE, band_for
from simplan.validate.names import THROUGHPUTS, latency_metric
from simplan.validate.rows import Row

#: Row metric -> (family, orientation): +1 when the metric is the family's quantity,
#: -1 when it is its inverse (a speed for a time). Coefficient rows (the ITL slope) are
#: not single measurements and stay out.
FAMILIES: dict[str, tuple[str, int]] = {
    "output_throughput_total": ("throughput", 1),
    "output_throughput_per_gpu": ("throughput", 1),
    "ttft": ("ttft", 1),
    "ttft_mean": ("ttft", 1),
    "ttft_p50": ("ttft", 1),
    "itl_p50": ("tpot", 1),
    "tpot_p50": ("tpot", 1),
    "itl_intercept_ms": ("tpot", 1),
    "decode_tokens_per_s_per_request": ("tpot", -1),
    "e2e_total_tokens_per_s_per_request": ("e2e", -1),
}
#: Fewest rows that get a band of their own (family and regime).
MIN_ROWS = 15
#: The stated interval.
NOMINAL = BAND_COVERAGE


def metric_family(metric: str) -> tuple[str, int] | None:
    """(family, orientation) of a metric, in any of the spellings validate reads. A
    latency's tail (p90 and above) has no band: the bands are fitted on means and
    medians, and a tail's error is wider."""
    if metric in FAMILIES:
        return FAMILIES[metric]
    latency = latency_metric(metric)
    if latency is not None:
        column, stat = latency
        if stat not in ("mean", "p50"):
            return None
        return {"ttft_s": "ttft", "tpot_s": "tpot", "e2e_s": "e2e"}[column], 1
    rate = THROUGHPUTS.get(metric)
    if rate is None:
        return None
    return ("tpot", -1) if rate == "per_user" else ("throughput", 1)


def family_error(row: Row) -> tuple[str, str, float] | None:
    """(family, regime, signed error in the family's terms) of a predicted row."""
    found = metric_family(row.metric)
    if row.rel_error is None or found is None or not row.regime:
        return None
    family, sign = found
    e = row.rel_error if sign > 0 else 1.0 / (1.0 + row.rel_error) - 1.0
    return family, row.regime, e


def _quantiles(errors: list[float]) -> dict[str, Any]:
    lo, hi = np.percentile(errors, [50 * (1 - NOMINAL), 50 * (1 + NOMINAL)])
    return {"p10": round(float(lo), 4), "p90": round(float(hi), 4), "rows": len(errors)}


def fit_bands(rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """Bands by family, and by family and regime where there are enough rows:
    ``{family: {"p10", "p90", "rows", <regime>: {"p10", "p90", "rows"}}}``."""
    errors: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        fe = family_error(r)
        if fe is not None:
            family, regime, e = fe
            errors.setdefault(family, {}).setdefault(regime, []).append(e)
    bands: dict[str, dict[str, Any]] = {}
    for family, by_regime in sorted(errors.items()):
        band = _quantiles([e for es in by_regime.values() for e in es])
        for regime, es in sorted(by_regime.items()):
            if len(es) >= MIN_ROWS:
                band[regime] = _quantiles(es)
        bands[family] = band
    return bands


def _inside(rows: list[Row], bands: dict[str, Any]) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {}
    for r in rows:
        fe = family_error(r)
        if fe is None:
            continue
        family, regime, e = fe
        b = band_for(bands, family, regime)
        if b is not None:
            ok = b[0] <= e <= b[1]
            out.setdefault("all", []).append(ok)
            out.setdefault(family, []).append(ok)
    return out


def band_coverage(rows: list[Row], bands: dict[str, Any]) -> dict[str, Any]:
    """Share of measurements inside the stated bands, overall and by family: on the rows
    as given (``coverage``) and leaving each source out (``held_out_coverage``)."""
    inside = _inside(rows, bands)
    held: dict[str, list[bool]] = {}
    for source in sorted({r.source_id for r in rows}):
        others = fit_bands(r for r in rows if r.source_id != source)
        for k, v in _inside([r for r in rows if r.source_id == source], others).items():
            held.setdefault(k, []).extend(v)
    return {
        "nominal": NOMINAL,
        "bands": bands,
        "coverage": {k: float(np.mean(v)) for k, v in sorted(inside.items())},
        "held_out_coverage": {k: float(np.mean(v)) for k, v in sorted(held.items())},
        "count": {k: len(v) for k, v in sorted(inside.items())},
    }
