"""What `simplan sweep` prints, read from the Dataset in blocks (so a store larger than
memory is summarised without loading it)."""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import xarray as xr
from simplan import slo as slo_eval
from simplan.sweep.grid import BLOCK_ELEMENTS, block_chunks, grid_blocks

#: The columns of each cheapest point (besides its coordinates).
COLUMNS = ("usd_per_mtok_total", "output_tokens_per_s", "ttft_s", "tpot_s", "utilization")


def sweep_summary(
    ds: xr.Dataset, top: int = 10, block_points: int = BLOCK_ELEMENTS
) -> dict[str, Any]:
    """The cheapest points that are feasible and not known to miss the SLO, and counts.

    Returns a dict with ``dims`` (the sweep axes), ``points``, ``passing`` (feasible and
    not known to miss the SLO), ``unverified`` (some pass only because the fast model
    cannot verify a percentile objective), ``reasons`` (infeasible points per reason
    code) and ``cheapest`` (up to ``top`` rows, cheapest ``usd_per_mtok_total`` first,
    each with the point's coordinates and :data:`COLUMNS`). The grid is read
    ``block_points`` points at a time.
    """
    dims = [str(d) for d in ds["usd_per_mtok_total"].dims]
    shape = tuple(int(ds.sizes[d]) for d in dims)
    chunks = block_chunks(dict(zip(dims, shape, strict=True)), block_points)
    best: list[tuple[float, int, dict[str, Any]]] = []  # a max-heap by cost (negated)
    reasons: dict[int, int] = {}
    passing = 0
    unverified = False
    names = [*COLUMNS, "feasible", "reason", "slo_status" if "slo_status" in ds else "slo_met"]
    for block in grid_blocks(shape, tuple(chunks[d] for d in dims)):
        part = ds[names].isel(dict(zip(dims, block.region, strict=True))).load()
        if "slo_status" in part:
            status = part["slo_status"].values.reshape(-1)
            passes = status != slo_eval.MISSED
            unverified |= bool((status == slo_eval.NOT_VERIFIED).any())
        else:
            passes = part["slo_met"].values.reshape(-1).astype(bool)
        ok = part["feasible"].values.reshape(-1).astype(bool) & passes
        passing += int(ok.sum())
        codes, counts = np.unique(part["reason"].values, return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            reasons[int(code)] = reasons.get(int(code), 0) + int(count)
        cost = part["usd_per_mtok_total"].values.reshape(-1)
        idx = np.flatnonzero(ok)
        if idx.size > top:  # only the block's cheapest can enter the overall top
            idx = idx[np.argsort(cost[idx], kind="stable")[:top]]
        for i in idx.tolist():
            flat = block.start + i
            if len(best) == top and -best[0][0] <= cost[i]:
                continue
            where = np.unravel_index(flat, shape)
            row = {d: ds[d].values[int(w)] for d, w in zip(dims, where, strict=True)}
            row.update({c: float(part[c].values.reshape(-1)[i]) for c in COLUMNS})
            item = (-float(cost[i]), -flat, row)  # ties: the earlier point wins
            if len(best) < top:
                heapq.heappush(best, item)
            else:
                heapq.heapreplace(best, item)
    cheapest = [row for _, _, row in sorted(best, key=lambda x: (-x[0], -x[1]))]
    return {
        "dims": dims,
        "points": int(np.prod(shape)),
        "passing": passing,
        "unverified": unverified,
        "reasons": dict(sorted(reasons.items())),
        "cheapest": cheapest,
    }
