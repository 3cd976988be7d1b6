"""The simulate evaluator: the discrete-event simulation at every grid point, with Dask.

Points run in parallel on a local process cluster by default, or on a running
``dask.distributed`` scheduler. Results written to ``.zarr`` are resumable: each task
(one slice of the grid along its last axis) is written as soon as it finishes, then
marked done; a rerun with the same scenario and output path computes only the missing
tasks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan import economics as econ
from simplan import slo as slo_eval
from simplan.cluster import dask_client, worker_count
from simplan.dataset import TASK_DONE
from simplan.errors import ContextError, DoesNotFitError, InfeasibleError, SimplanError
from simplan.metrics import summarize
from simplan.scenario import Scenario, trial_scenario
from simplan.sim import simulate
from simplan.sweep.grid import VARIABLES, Axis, api_costs_usd, api_limit_use
from simplan.sweep.store import prepare_task_store, write_netcdf_sweep, write_task
from simplan.workload import peak_rate_per_s


def simulate_point(
    raw: dict[str, Any], axes_keys: list[str], values: list[Any], source: str
) -> dict[str, Any]:
    """Run the simulation at one grid point; returns scalar results (picklable)."""
    written = trial_scenario(raw, {}, source)
    point = econ.scoped_overrides(written, dict(zip(axes_keys, values, strict=True)))
    sc = trial_scenario(raw, point, source)
    try:
        res = simulate(sc)
    except DoesNotFitError:
        return {"reason": 1}
    except ContextError:
        return {"reason": 5}
    except InfeasibleError:
        return {"reason": 2}
    except SimplanError:
        return {"reason": 4}
    s = summarize(res)
    # a finite job meets its "SLO" when it finishes by its deadline
    met = s["slo_met"] is not False and (s.get("job") or {}).get("deadline_met") is not False
    return {
        # the same test as the fast method's: the fleet does not keep up with the offered
        # load (a backlog that drains after arrivals stop is still saturation)
        "reason": 3 if ("saturation" in s or s["requests_in_flight"]) else 0,
        "output_tokens_per_s": s["output_tokens_per_s"],
        "input_tokens_per_s": s["input_tokens_per_s"],
        "ttft_s": s["ttft_s"]["mean"],
        "tpot_s": s["tpot_s"]["mean"],
        "ttft_p95_s": s["ttft_s"]["p95"],
        "tpot_p95_s": s["tpot_s"]["p95"],
        "tokens_per_request": (s["input_tokens_per_s"] + s["output_tokens_per_s"])
        / max(s["requests_per_s"], 1e-12),
        "replica_usd_per_hour": s["fleet_usd_per_hour"] / max(s["replicas"], 1),
        "e2e_s": s["e2e_s"]["mean"],
        "utilization": s["capacity_utilization"],
        "max_rate_per_s": None,
        "max_rate_under_slo_per_s": None,
        "fleet_usd_per_hour": s["fleet_usd_per_hour"],
        "usd_per_mtok_output": s["usd_per_mtok_output"],
        "usd_per_mtok_total": s["usd_per_mtok_total"],
        "monthly_cost_usd": s["monthly_cost_usd"],
        "monthly_tokens": s["monthly_tokens"],
        "slo_met": met,
        "slo_status": slo_eval.MET if met else slo_eval.MISSED,
        "input_share": s["input_tokens_per_s"]
        / max(s["input_tokens_per_s"] + s["output_tokens_per_s"], 1e-12),
        "cached_input_share": econ.cached_input_share(sc),
        "busiest_rate_per_s": peak_rate_per_s(sc.workload)
        if sc.workload.rate_per_s is not None
        else s["offered_requests_per_s"],
    }


def simulate_points(
    raw: dict[str, Any], axes_keys: list[str], points: list[list[Any]], source: str
) -> list[dict[str, Any]]:
    """Run the simulation at several grid points in one process (one Dask task)."""
    return [simulate_point(raw, axes_keys, values, source) for values in points]


def _task_slices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """One task per index of every axis but the last."""
    return list(itertools.product(*(range(s) for s in shape[:-1])))


def _batches(
    todo: list[tuple[int, ...]], n_last: int, n_workers: int
) -> list[tuple[tuple[int, ...], list[int]]]:
    """The Dask tasks: points of one slice simulated together, about four per worker.

    A task per point paid the scheduler and the pickled scenario at every point; a task
    per slice left workers idle when slices are few (a one-axis sweep is one slice).
    """
    parts = max(1, min(n_last, math.ceil(4 * n_workers / max(len(todo), 1))))
    return [
        (t, [int(j) for j in js])
        for t in todo
        for js in np.array_split(np.arange(n_last), parts)
        if len(js)
    ]


def run_simulate(
    ds: xr.Dataset,
    raw: dict[str, Any],
    axes: list[Axis],
    source: str,
    scenario: Scenario,
    output: str | Path | None,
    scheduler: str | None,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> xr.Dataset:
    shape = tuple(len(a.values) for a in axes)
    tasks = _task_slices(shape)
    out_path = Path(output) if output is not None else None
    zarr_out = out_path is not None and out_path.suffix == ".zarr"
    done = np.zeros(len(tasks), dtype=bool)
    if zarr_out:
        assert out_path is not None
        done = prepare_task_store(ds, out_path, len(tasks))
        existing = xr.open_zarr(out_path, consolidated=False)
        ds = existing.load()
        existing.close()
    todo = [t for t, d in zip(tasks, done, strict=True) if not d]
    if todo:  # a finished store being resumed: nothing to compute, no cluster to start
        with dask_client(scheduler, workers) as client:
            _simulate_tasks(client, ds, raw, axes, source, tasks, todo, done, out_path, progress)
    _fill_api(ds, scenario)
    if out_path is not None:
        if zarr_out:
            import zarr  # deferred (0.2 s): Zarr outputs only

            if "api_monthly_cost_usd" in ds:
                ds[["api_monthly_cost_usd"]].to_zarr(out_path, mode="a")
            zarr.consolidate_metadata(str(out_path), zarr_format=2)
        else:
            write_netcdf_sweep(ds, out_path)
    return ds.drop_vars(TASK_DONE, errors="ignore")


def _store_task(
    ds: xr.Dataset, t: tuple[int, ...], res: dict[int, dict[str, Any]], shape: tuple[int, ...]
) -> None:
    for j, r in res.items():
        idx = (*t, j)
        code = int(r.get("reason", 4))
        ds["reason"].values[idx] = code
        ds["feasible"].values[idx] = code == 0
        ds["slo_met"].values[idx] = bool(r.get("slo_met", False)) and code == 0
        ds["slo_status"].values[idx] = (
            int(r.get("slo_status", slo_eval.MISSED)) if code == 0 else slo_eval.MISSED
        )
        for name in VARIABLES:
            v = r.get(name)
            ds[name].values[idx] = np.nan if v is None else float(v)


def _fill_api(ds: xr.Dataset, scenario: Scenario) -> None:
    """API costs of each point's monthly volume (after the points are simulated)."""
    if "api_monthly_cost_usd" not in ds:
        return
    apis = econ.selected_apis(scenario)
    ds["api_monthly_cost_usd"].values[...] = api_costs_usd(
        apis, ds["monthly_tokens"].values, ds["input_share"].values, ds["cached_input_share"].values
    )
    ds["api_rate_limit_use"].values[...] = api_limit_use(
        apis,
        ds["busiest_rate_per_s"].values,
        ds["tokens_per_request"].values,
        ds["input_share"].values,
        ds["cached_input_share"].values,
    )


def _simulate_tasks(
    client: Any,
    ds: xr.Dataset,
    raw: dict[str, Any],
    axes: list[Axis],
    source: str,
    tasks: list[tuple[int, ...]],
    todo: list[tuple[int, ...]],
    done: np.ndarray,
    out_path: Path | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Simulate the points of the unfinished tasks; store (and write) each finished task."""
    from dask.distributed import as_completed  # deferred (0.3 s): Dask runs only

    shape = tuple(len(a.values) for a in axes)
    keys = [a.key for a in axes]
    futures = {}
    for t, js in _batches(todo, shape[-1], worker_count(client)):
        head = [axes[k].values[t[k]] for k in range(len(t))]
        values = [[*head, axes[-1].values[j]] for j in js]
        fut = client.submit(simulate_points, raw, keys, values, source, pure=False)
        futures[fut] = (t, js)
    pending_by_task: dict[tuple[int, ...], int] = {t: shape[-1] for t in todo}
    results: dict[tuple[int, ...], dict[int, dict[str, Any]]] = {t: {} for t in todo}
    finished = int(done.sum()) * shape[-1]
    total = len(tasks) * shape[-1]
    for fut in as_completed(futures):
        t, js = futures[fut]
        results[t].update(zip(js, fut.result(), strict=True))
        pending_by_task[t] -= len(js)
        finished += len(js)
        if progress is not None:
            progress(finished, total)
        if pending_by_task[t] == 0:
            _store_task(ds, t, results.pop(t), shape)
            if out_path is not None and out_path.suffix == ".zarr":
                write_task(ds, out_path, t, tasks.index(t), axes)
