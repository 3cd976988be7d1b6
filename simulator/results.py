"""Simulation records to an ``xarray.Dataset`` with units and provenance; atomic writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan import __version__
from simplan.dataset import encode_provenance, encode_summary, scenario_facts, summary_coords
from simplan.economics import HOURS_PER_MONTH
from simplan.kernels import layout as c
from simplan.metrics import request_table
from simplan.provenance import provenance_rows
from simplan.recorder import STATUS_NAMES
from simplan.scenario import scenario_hash
from simplan.sim import SimResult
from simplan.tempfiles import atomic_write

_REQUEST_VARS = {
    # name: (units, long_name)
    "arrival_s": ("s", "arrival time"),
    "scheduled_s": ("s", "time first scheduled on a replica"),
    "first_token_s": ("s", "time of the first output token"),
    "finish_s": ("s", "completion (or rejection) time"),
    "input_tokens": ("tokens", "prompt tokens"),
    "output_tokens": ("tokens", "output tokens generated (hidden reasoning included)"),
    "reasoning_tokens": ("tokens", "hidden reasoning tokens before the visible answer"),
    "replica": ("1", "replica that served the request (-1: none)"),
    "preemptions": ("1", "times preempted and recomputed"),
    "retries": ("1", "times moved off a failed or interrupted replica"),
    "status": ("1", "0 in flight, 1 completed, 2 rejected"),
}
_DERIVED_VARS = {
    "ttft_s": ("s", "time to first token"),
    "tpot_s": ("s", "time per output token after the first"),
    "e2e_s": ("s", "end-to-end latency"),
    "queue_delay_s": ("s", "queueing delay before first scheduled"),
    "ttfvt_s": ("s", "time to the first visible token (after any hidden reasoning)"),
}


def to_dataset(res: SimResult, summary: dict[str, Any], scenario_text: str) -> xr.Dataset:
    """Build the run's Dataset: per-request table, per-replica time series, summary attrs."""
    r = res.requests
    data: dict[str, Any] = {}
    for name, (units, long) in _REQUEST_VARS.items():
        arr = r.column(name)  # an unused optional field is a read-only view: copied
        arr = np.where(arr < 0, np.nan, arr) if name.endswith("_s") else np.array(arr)
        var = "served_by" if name == "replica" else name
        data[var] = ("request", arr, {"units": units, "long_name": long})
    for name, arr in request_table(res).items():
        units, long = _DERIVED_VARS[name]
        data[name] = ("request", arr, {"units": units, "long_name": long})

    ts = np.asarray(res.series.time_s)
    busy_cum = res.series.array("busy_s")
    dt = np.diff(ts, prepend=ts[:1] if ts.size else ts)
    with np.errstate(invalid="ignore", divide="ignore"):
        busy = np.where(
            dt[:, None] > 0, np.diff(busy_cum, axis=0, prepend=busy_cum[:1]) / dt[:, None], 0.0
        )
    busy = np.clip(busy, 0.0, 1.0)
    totals = np.array([max(e.total_blocks, 1) for e in res.engines], dtype=float)
    peak_flops = np.array([e.replica.num_gpus * e.cfg[c.PEAK_GEMM_FLOP_PER_S] for e in res.engines])
    peak_bw = np.array([e.replica.num_gpus * e.cfg[c.BW_BYTES_PER_S] for e in res.engines])
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = {
            f: np.where(
                dt[:, None] > 0,
                np.diff(res.series.array(f), axis=0, prepend=res.series.array(f)[:1]) / dt[:, None],
                0.0,
            )
            for f in ("flops", "bytes")
        }
    series = {
        "utilization": (busy, "1", "busy fraction of the replica over the preceding interval"),
        "batch_size": (res.series.array("running"), "sequences", "running sequences"),
        "queue_length": (res.series.array("waiting"), "requests", "waiting requests"),
        "kv_cache_occupancy": (
            res.series.array("kv_blocks_used") / totals,
            "1",
            "fraction of KV-cache blocks in use",
        ),
        "kv_cache_prefix_share": (
            res.series.array("kv_blocks_cached") / totals,
            "1",
            "fraction of KV-cache blocks the prefix cache holds (in use or evictable)",
        ),
        "mfu": (
            rate["flops"] / peak_flops,
            "1",
            "model FLOPs utilization over the preceding interval",
        ),
        "mbu": (
            rate["bytes"] / peak_bw,
            "1",
            "memory-bandwidth utilization (weights and KV read) over the preceding interval",
        ),
        "replica_state": (
            res.series.array("state"),
            "1",
            "0 off, 1 provisioning, 2 active, 3 draining, 4 failed",
        ),
        "cost_usd_cum": (
            res.series.array("billed_usd"),
            "USD",
            "what the replica has been billed so far",
        ),
        "output_tokens_cum": (
            res.series.array("output_tokens"),
            "tokens",
            "output tokens generated so far",
        ),
    }
    for name, (arr, units, long) in series.items():
        data[name] = (("time", "replica"), arr, {"units": units, "long_name": long})
    for name, units, long in (
        ("api_cost_usd_cum", "USD", "overflow API cost so far"),
        ("backlog", "requests", "requests waiting for any replica"),
    ):
        key = "api_usd" if name == "api_cost_usd_cum" else "backlog"
        data[name] = (
            "time",
            np.asarray(res.series.fleet_rows[key], dtype=float),
            {"units": units, "long_name": long},
        )
    data.update(encode_summary(summary))
    data.update(encode_provenance(provenance_rows(res.scenario)))
    data["status"][2]["flag_values"] = np.array(sorted(STATUS_NAMES), dtype=np.int64)
    data["status"][2]["flag_meanings"] = " ".join(
        STATUS_NAMES[k].replace(" ", "_") for k in sorted(STATUS_NAMES)
    )
    coords = {
        **summary_coords(summary),
        "request": np.arange(r.n),
        "time": ("time", ts, {"units": "s", "long_name": "simulated time"}),
        "replica": np.arange(len(res.engines)),
        "replica_gpu": ("replica", [e.replica.gpu.id for e in res.engines]),
        "replica_pool": ("replica", [e.pool for e in res.engines]),
        "replica_pricing": ("replica", [b.pricing for b in res.fleet.billing]),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        title=f"simplan run: {res.scenario.name or 'scenario'}",
        simplan_version=__version__,
        scenario_hash=scenario_hash(res.scenario),
        scenario_toml=scenario_text,
        seed=res.scenario.simulation.seed,
        hours_per_month=HOURS_PER_MONTH,
        **scenario_facts(res.scenario),
    )
    return ds


def write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    atomic_write(path, lambda p: _write_text(p, text))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def write_netcdf(path: Path, ds: xr.Dataset) -> None:
    atomic_write(path, lambda p: ds.to_netcdf(p, engine="h5netcdf"))
