"""What `simplan sweep` prints, read from the Dataset in blocks (so a store larger than
memory is summarised without loading it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from simplan.plots import slo_passes, slo_unverified
from simplan.sweep.grid import BLOCK_ELEMENTS, block_chunks, grid_blocks

#: The columns of each cheapest point (besides its coordinates).
COLUMNS = (
    "usd_per_mtok_total",
    "output_tokens_per_s",
    "ttft_s",
    "ttft_p95_s",
    "tpot_s",
    "tpot_p95_s",
    "utilization",
)


def _significant(x: np.ndarray, digits: int = 4) -> np.ndarray:
    """``x`` rounded to ``digits`` significant digits (float noise is not a difference)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(x))))
        out = np.round(x * scale) / scale
    return np.where(np.isfinite(out), out, x)


def _passing(part: xr.Dataset) -> np.ndarray:
    """Feasible points not known to miss the SLO (flat), in a block read into memory."""
    return (part["feasible"] & slo_passes(part)).values.reshape(-1).astype(bool)


def sweep_summary(
    ds: xr.Dataset, top: int = 10, block_points: int = BLOCK_ELEMENTS, count_ties: bool = False
) -> dict[str, Any]:
    """The cheapest points that are feasible and not known to miss the SLO, and counts.

    The one ranking every command and the report use: cost per million tokens rounded to
    4 significant digits, then the lower mean TTFT, then grid order.

    Returns a dict with ``dims`` (the sweep axes), ``points``, ``passing`` (feasible and
    not known to miss the SLO), ``unverified`` (some pass only because the fast model
    cannot verify a percentile objective), ``reasons`` (points per reason code, 0 being
    feasible) and ``cheapest`` (up to ``top`` rows, each with the point's ``index``, its
    coordinates and :data:`COLUMNS`); with ``count_ties``, ``ties``: other passing
    points within 0.5% of the cheapest's cost. The grid is read ``block_points`` points
    at a time.
    """
    dims = [str(d) for d in ds["usd_per_mtok_total"].dims]
    shape = tuple(int(ds.sizes[d]) for d in dims)
    chunks = block_chunks(dict(zip(dims, shape, strict=True)), block_points)
    blocks = grid_blocks(shape, tuple(chunks[d] for d in dims))
    names = [*COLUMNS, "feasible", "reason", "slo_status" if "slo_status" in ds else "slo_met"]
    best: list[tuple[tuple[float, float, int], dict[str, Any]]] = []
    reasons: dict[int, int] = {}
    passing = 0
    unverified = False
    for block in blocks:
        part = ds[names].isel(dict(zip(dims, block.region, strict=True))).load()
        ok = _passing(part)
        unverified |= slo_unverified(part)
        passing += int(ok.sum())
        codes, counts = np.unique(part["reason"].values, return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            reasons[int(code)] = reasons.get(int(code), 0) + int(count)
        cost = part["usd_per_mtok_total"].values.reshape(-1)
        ok &= np.isfinite(cost)
        idx = np.flatnonzero(ok)
        rounded = _significant(cost[idx])
        ttft = np.nan_to_num(part["ttft_s"].values.reshape(-1)[idx], nan=np.inf)
        for p in np.lexsort((idx, ttft, rounded))[:top].tolist():  # the block's best
            i = int(idx[p])
            where = np.unravel_index(block.start + i, shape)
            row = {d: ds[d].values[int(w)] for d, w in zip(dims, where, strict=True)}
            row.update({c: float(part[c].values.reshape(-1)[i]) for c in COLUMNS})
            row["index"] = tuple(int(w) for w in where)
            best.append(((float(rounded[p]), float(ttft[p]), block.start + i), row))
        best = sorted(best, key=lambda kr: kr[0])[:top]
    out: dict[str, Any] = {
        "dims": dims,
        "points": int(np.prod(shape)),
        "passing": passing,
        "unverified": unverified,
        "reasons": dict(sorted(reasons.items())),
        "cheapest": [row for _, row in best],
    }
    if count_ties and best:
        limit = best[0][1]["usd_per_mtok_total"] * 1.005
        within = 0
        for block in blocks:
            part = ds[names].isel(dict(zip(dims, block.region, strict=True))).load()
            cost = part["usd_per_mtok_total"].values.reshape(-1)
            within += int((_passing(part) & (cost <= limit)).sum())
        out["ties"] = within - 1
    return out
