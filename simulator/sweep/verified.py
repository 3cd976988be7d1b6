"""``sweep --verify N``: the N cheapest points of a fast sweep, checked by simulation.

The fast model screens a grid; like ``plan``'s pick, its cheapest points are then
simulated (:func:`simplan.verify.simulate_fleet`: the point's fleet at its busiest-hour
rate, :data:`~simplan.verify.VERIFY_SEEDS` seeds, stopping at the first seed that misses
an objective) and the outcome is recorded in the Dataset's ``verification`` attribute
(JSON: each point's coordinates, whether it held, the seeds run and the achieved value of
every objective per seed), which ``latency_vs_load`` draws and the console prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xarray as xr
from simplan import verify
from simplan.metrics import plain_json
from simplan.plots.read import VERIFICATION_ATTR as ATTR
from simplan.sweep.grid import Axis, point_scenario
from simplan.sweep.summary import sweep_summary
from simplan.workload import peak_rate_per_s


def verify_cheapest(
    ds: xr.Dataset, raw: dict[str, Any], axes: list[Axis], source: str, n: int
) -> list[dict[str, Any]]:
    """Simulate the ``n`` cheapest passing points of a fast sweep; one record each."""
    by_name = {a.name: a for a in axes}
    records: list[dict[str, Any]] = []
    for row in sweep_summary(ds, top=n)["cheapest"]:
        dims = [d for d in row if d in by_name]
        index = tuple(row["index"])
        overrides = {by_name[d].key: by_name[d].values[i] for d, i in zip(dims, index, strict=True)}
        sc = point_scenario(raw, axes, index, source)
        rate = peak_rate_per_s(sc.workload)
        e2e_s = float(ds["e2e_s"].isel(dict(zip(dims, index, strict=True))).values)
        warmup = verify.warmup_for(e2e_s, sc.simulation.warmup_s)
        v = verify.simulate_fleet(
            raw,
            overrides,
            sc.hardware.replicas,
            rate,
            source=source,
            warmup_s=warmup,
            seed=sc.simulation.seed,
        )
        record = {
            "point": {d: row[d] for d in dims},
            "fast": {k: row[k] for k in ("ttft_p95_s", "tpot_p95_s", "usd_per_mtok_total")},
            **verify.describe(v),
        }
        records.append(plain_json(record))
    return records


def attach(ds: xr.Dataset, records: list[dict[str, Any]]) -> None:
    """Record the verifications on a Dataset (in memory)."""
    ds.attrs[ATTR] = json.dumps(records)


def attach_to_store(path: Path, records: list[dict[str, Any]]) -> None:
    """Record the verifications on a finished Zarr store simplan wrote."""
    import zarr  # deferred (0.2 s): Zarr outputs only

    group = zarr.open_group(str(path), mode="r+")
    group.attrs[ATTR] = json.dumps(records)
    zarr.consolidate_metadata(str(path))
