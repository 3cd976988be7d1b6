"""Parameter sweeps: the product of a scenario's ``[sweep]`` axes, as an xarray Dataset.

Two evaluators:

* ``fast``: the compiled steady-state model (:mod:`simplan.kernels.grid`) over the whole
  grid; capacities are computed once per distinct replica configuration;
* ``simulate``: the discrete-event simulation at every grid point, run in parallel with
  Dask (a local process cluster by default, or a running ``dask.distributed`` scheduler).

Results written to ``.zarr`` are resumable: each task (one slice of the grid along its
last axis) is written as soon as it finishes, then marked done; a rerun with the same
scenario and output path computes only the missing tasks. ``.nc`` output is written
once, atomically, at the end.

simplan never deletes or overwrites a path it did not write: an existing output that is
not a sweep written by simplan is refused before any computation starts. A ``.zarr``
store is built in a temporary folder beside the output (``<name>.tmp-<pid>-<random>``,
marked as simplan's by a file inside it) and renamed into place.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import math
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan import __version__
from simplan import economics as econ
from simplan import slo as slo_eval
from simplan.dataset import encode_provenance, scenario_facts
from simplan.errors import ContextError, DoesNotFitError, InfeasibleError, SimplanError
from simplan.feasibility import check_workload
from simplan.perf import replica_cfg
from simplan.provenance import provenance_rows
from simplan.scenario import (
    _INT_KEYS,
    RangeAxis,
    Scenario,
    read_scenario_dict,
    scenario_from_dict,
    scenario_hash,
    trial_scenario,
)
from simplan.tempfiles import check_output_folder, process_alive
from simplan.workload import diurnal_multipliers, mean_lengths

#: Axes that do not change a replica's configuration: evaluated numerically per point.
CHEAP_AXES = {
    "workload.rate_per_s",
    "hardware.replicas",
    "hardware.pricing",
    "hardware.price_usd_per_gpu_hour",
}

#: Reason codes for infeasible points (the ``reason`` variable; 0 = feasible).
REASONS = {
    0: "feasible",
    1: "model does not fit in GPU memory",
    2: "invalid parallelism for this model or GPU",
    3: "offered load exceeds what the fleet sustains",
    4: "simulation error",
    5: "every request is longer than the model's context",
}

VARIABLES: dict[str, tuple[str, str]] = {
    # name: (units, long_name)
    "output_tokens_per_s": ("tokens/s", "fleet output token throughput"),
    "input_tokens_per_s": ("tokens/s", "fleet input token throughput"),
    "ttft_s": ("s", "mean time to first token"),
    "tpot_s": ("s", "mean time per output token"),
    "e2e_s": ("s", "mean end-to-end latency"),
    "utilization": ("1", "offered load as a share of fleet capacity"),
    "max_rate_per_s": ("requests/s", "largest request rate the fleet sustains"),
    "max_rate_under_slo_per_s": ("requests/s", "largest request rate meeting the SLO"),
    "fleet_usd_per_hour": ("USD/hour", "fleet price"),
    "usd_per_mtok_output": ("USD/Mtok", "fleet cost per million output tokens"),
    "usd_per_mtok_total": ("USD/Mtok", "fleet cost per million input+output tokens"),
    "monthly_cost_usd": ("USD/month", "fleet cost per month (simplan.economics.HOURS_PER_MONTH)"),
    "monthly_tokens": ("tokens/month", "monthly volume priced"),
    "tokens_per_request": ("tokens", "mean input + output tokens per request"),
    "input_share": ("1", "share of input tokens in the volume"),
    "replica_usd_per_hour": ("USD/hour", "price of one replica (tp x pp GPUs)"),
    "ttft_p95_s": ("s", "95th percentile time to first token (simulate only)"),
    "tpot_p95_s": ("s", "95th percentile time per output token (simulate only)"),
}


def _flag_word(meaning: str) -> str:
    """A CF flag meaning: one word, no blanks."""
    return meaning.replace(" ", "_")


@dataclass(frozen=True)
class Axis:
    key: str
    name: str
    values: list[Any]


def sweep_axes(scenario: Scenario) -> list[Axis]:
    """The sweep axes in file order, with short dimension names."""
    leaves = [k.split(".")[-1] for k in scenario.sweep]
    axes = []
    for key, spec in scenario.sweep.items():
        leaf = key.split(".")[-1]
        # a leaf that is also a result variable (slo.ttft_p95_s) keeps its section
        unique = leaves.count(leaf) == 1 and leaf not in VARIABLES
        name = leaf if unique else key.replace(".", "_")
        values = spec.values() if isinstance(spec, RangeAxis) else list(spec)
        if isinstance(spec, RangeAxis) and leaf in _INT_KEYS:
            values = [round(v) for v in values]
        axes.append(Axis(key, name, values))
    return axes


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    cur = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


# --- the fast evaluator ----------------------------------------------------------------


def _point_scenario(
    raw: dict[str, Any], axes: list[Axis], idx: tuple[int, ...], source: str
) -> Scenario:
    values = {axis.key: axis.values[i] for axis, i in zip(axes, idx, strict=True)}
    return trial_scenario(raw, values, source)


def evaluate_fast(raw: dict[str, Any], axes: list[Axis], source: str) -> dict[str, np.ndarray]:
    """Evaluate every grid point with the steady-state kernels; returns flat arrays.

    Axes that change the replica (model, GPU, parallelism, engine, lengths) define groups;
    each group is validated and tabulated once (capacity, and its operating point over a
    grid of rates). Every point is then an interpolation in its group's table, with the
    cheap axes (rate, replicas, pricing) broadcast in numpy, so a grid of millions of
    points takes seconds.
    """
    from simplan.kernels.grid import (
        TABLE_RATES,
        capacity_many,
        interpolate_points,
        operating_table,
    )

    shape = tuple(len(a.values) for a in axes)
    n = int(np.prod(shape)) if shape else 1
    expensive = [i for i, a in enumerate(axes) if a.key not in CHEAP_AXES]
    exp_shape = tuple(shape[i] for i in expensive)
    reps: list[Scenario] = []
    cfgs: list[np.ndarray] = []
    group_reason: list[int] = []
    lens: list[tuple[float, float]] = []
    limits: list[dict[str, float]] = []  # each group's objectives: key -> limit
    fast: list[tuple[float, float, float]] = []  # the bounds on mean latency they imply
    load: list[tuple[float, float]] = []  # (peak, mean) multipliers of the daily cycle
    for gidx in itertools.product(*(range(k) for k in exp_shape)):
        idx = [0] * len(axes)
        for k, i in enumerate(expensive):
            idx[i] = gidx[k]
        sc = _point_scenario(raw, axes, tuple(idx), source)
        cfg, why = replica_cfg(sc)
        try:
            check_workload(sc)  # the same check every command applies (simplan.feasibility)
        except ContextError:
            why = why or 5
        reps.append(sc)
        cfgs.append(cfg)
        group_reason.append(why)
        lens.append((*mean_lengths(sc),))
        objs = slo_eval.objectives(sc.slo)
        fast.append(slo_eval.fast_limits(objs))
        limits.append({o.key: o.limit_s for o in objs})
        load.append(diurnal_multipliers(sc.workload))
    index = np.indices(shape).reshape(len(axes), n) if shape else np.zeros((0, 1), np.int64)
    group = (
        np.ravel_multi_index(tuple(index[i] for i in expensive), exp_shape)
        if expensive
        else np.zeros(n, dtype=np.int64)
    )
    reason = np.asarray(group_reason, dtype=np.int8)[group]

    cfg_arr = np.ascontiguousarray(np.stack(cfgs))
    g_in = np.array([x[0] for x in lens])
    g_out = np.array([x[1] for x in lens])
    g_ttft, g_tpot, g_e2e = (np.array([x[i] for x in fast]) for i in range(3))
    # only configurations that exist go through the kernels; invalid parallelism has
    # no replica to model (capacity 0: every such point is infeasible, reason 2)
    ok = np.asarray(group_reason) != 2
    cap = np.zeros((len(cfgs), 3))
    rates_tab = np.zeros((len(cfgs), TABLE_RATES))
    values_tab = np.zeros((len(cfgs), TABLE_RATES, 6))
    if ok.any():
        cap[ok] = capacity_many(cfg_arr[ok], g_in[ok], g_out[ok], g_ttft[ok], g_tpot[ok], g_e2e[ok])
        rates_tab[ok], values_tab[ok] = operating_table(
            cfg_arr[ok], g_in[ok], g_out[ok], cap[ok, 1]
        )
    r_max_g = cap[:, 1]

    def cheap(key: str, default: Any) -> np.ndarray:
        for i, a in enumerate(axes):
            if a.key == key:
                return np.asarray(a.values, dtype=object)[index[i]]
        return np.full(n, default, dtype=object)

    base = reps[0]
    written = trial_scenario(raw, {}, source)  # the scenario as written: price overrides
    rate = cheap("workload.rate_per_s", base.workload.rate_per_s or 0.0).astype(float)
    replicas = cheap("hardware.replicas", base.hardware.replicas).astype(float)
    pricing = cheap("hardware.pricing", base.hardware.pricing)
    override = cheap("hardware.price_usd_per_gpu_hour", base.hardware.price_usd_per_gpu_hour)
    # price per GPU-hour (simplan.economics.gpu_price): a [hardware] override prices only
    # the written pool's GPU in its pricing mode; a swept override replaces it there
    gpu_of_group = [sc.hardware.gpu for sc in reps]
    modes = sorted({str(m) for m in pricing})
    table = np.array(
        [[econ.gpu_price(written, g, m).usd_per_gpu_hour for m in modes] for g in gpu_of_group]
    )
    mode_idx = np.searchsorted(np.array(modes), pricing.astype(str))
    gpu_price = table[group, mode_idx]
    own_pool = (np.array(gpu_of_group)[group] == written.hardware.gpu) & (
        pricing.astype(str) == written.hardware.pricing
    )
    has_override = own_pool & np.array([o is not None for o in override])
    gpu_price = np.where(
        has_override, np.where(has_override, override, 0.0).astype(float), gpu_price
    )
    gpus_per_replica = np.array([sc.hardware.tp * sc.hardware.pp for sc in reps])[group]
    i_len, o_len = g_in[group], g_out[group]
    peak_mult = np.array([x[0] for x in load])[group]
    mean_mult = np.array([x[1] for x in load])[group]
    r_max = r_max_g[group]
    # latency and the SLO at the busiest hour; volume and cost over the day
    per_replica = rate * peak_mult / replicas
    op = interpolate_points(rates_tab, values_tab, group, per_replica, r_max_g)

    fleet_usd = replicas * gpus_per_replica * gpu_price
    served = np.minimum(per_replica, r_max) * replicas
    out_tps = served * o_len
    in_tps = served * i_len
    fixed_monthly = np.array(
        [
            float(sc.workload.monthly_tokens) if sc.workload.monthly_tokens is not None else np.nan
            for sc in reps
        ]
    )[group]
    share = i_len / (i_len + o_len)
    monthly_tokens = econ.monthly_volume_tokens(fixed_monthly, rate * mean_mult * (i_len + o_len))
    monthly_cost = econ.monthly_cost_usd(fleet_usd)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: dict[str, np.ndarray] = {
            "output_tokens_per_s": out_tps,
            "input_tokens_per_s": in_tps,
            "tokens_per_request": i_len + o_len,
            "input_share": share,
            "replica_usd_per_hour": gpus_per_replica * gpu_price,
            "ttft_p95_s": np.full(n, np.nan),
            "tpot_p95_s": np.full(n, np.nan),
            "fleet_usd_per_hour": fleet_usd,
            "usd_per_mtok_output": econ.usd_per_mtok(monthly_cost, monthly_tokens * (1 - share)),
            "usd_per_mtok_total": econ.usd_per_mtok(monthly_cost, monthly_tokens),
            "monthly_cost_usd": monthly_cost,
            "monthly_tokens": monthly_tokens,
            "ttft_s": op[:, 3],
            "tpot_s": op[:, 4],
            "e2e_s": op[:, 5],
            "utilization": np.minimum(per_replica / np.where(r_max > 0, r_max, np.nan), 1.0),
            "max_rate_per_s": r_max * replicas,
            "max_rate_under_slo_per_s": cap[group, 2] * replicas,
        }
    saturated = (op[:, 2] > 0.5) & (reason == 0)
    reason[saturated] = 3
    status = slo_eval.fast_status(
        {"ttft_s": op[:, 3], "tpot_s": op[:, 4], "e2e_s": op[:, 5]},
        {
            k: np.array([lim.get(k, np.inf) for lim in limits])[group]
            for k in slo_eval.objective_keys()
        },
    )
    status = np.where(reason == 0, status, slo_eval.MISSED).astype(np.int8)
    out["slo_status"] = status
    out["slo_met"] = status == slo_eval.MET
    out["reason"] = reason
    keep = (
        "fleet_usd_per_hour",
        "monthly_cost_usd",
        "monthly_tokens",
        "tokens_per_request",
        "input_share",
        "replica_usd_per_hour",
    )
    for name in VARIABLES:
        if name in keep:
            continue
        no_replica = (reason == 1) | (reason == 2) | (reason == 5)
        mask = no_replica if name == "max_rate_per_s" else reason != 0
        out[name] = np.where(mask, np.nan, out[name])
    out["feasible"] = reason == 0
    return out


def _fast_can_answer(scenario: Scenario, source: str) -> None:
    """Refuse what the fast model does not represent, rather than answer it wrongly."""
    from simplan.job import is_job

    if scenario.hardware.pools:
        raise SimplanError(
            "the fast method models the [hardware] pool only, not [[hardware.pools]]; "
            "use --method simulate for a mixed fleet",
            source=source,
        )
    if is_job(scenario):
        raise SimplanError(
            "a finite job (arrival = 'offline') is priced by its duration, which the fast "
            "method does not simulate; use --method simulate, or `simplan plan` with "
            "deadline_s",
            source=source,
        )


def _check_workload(scenario: Scenario) -> None:
    """The check every command applies, on the file as written, before any point runs.

    Unreadable files fail the sweep; requests longer than the context fail it only when
    no axis could change that (a model or length axis is judged point by point).
    """
    try:
        check_workload(scenario)
    except ContextError:
        if not any(k.startswith(("model.", "workload.")) for k in scenario.sweep):
            raise


# --- the simulate evaluator ------------------------------------------------------------


def simulate_point(
    raw: dict[str, Any], axes_keys: list[str], values: list[Any], source: str
) -> dict[str, Any]:
    """Run the simulation at one grid point; returns scalar results (picklable)."""
    from simplan.metrics import summarize
    from simplan.sim import simulate

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
    }


# --- assembling and writing ------------------------------------------------------------


def _empty_dataset(axes: list[Axis], scenario: Scenario, text: str, method: str) -> xr.Dataset:
    shape = tuple(len(a.values) for a in axes)
    dims = tuple(a.name for a in axes)
    data: dict[str, Any] = {}
    for name, (units, long) in VARIABLES.items():
        data[name] = (dims, np.full(shape, np.nan), {"units": units, "long_name": long})
    data["feasible"] = (dims, np.zeros(shape, dtype=bool), {"long_name": "point is feasible"})
    data["slo_met"] = (
        dims,
        np.zeros(shape, dtype=bool),
        {"long_name": "estimated latencies meet the scenario's SLO"},
    )
    data["slo_status"] = (
        dims,
        np.full(shape, slo_eval.MISSED, dtype=np.int8),
        {
            "long_name": "SLO verdict (fast sweeps cannot verify percentile objectives)",
            "flag_values": np.array(list(slo_eval.STATUS), dtype=np.int8),
            "flag_meanings": " ".join(slo_eval.STATUS.values()),
        },
    )
    data["reason"] = (
        dims,
        np.zeros(shape, dtype=np.int8),
        {
            "long_name": "why a point is infeasible",
            "flag_values": np.array(list(REASONS), dtype=np.int8),
            "flag_meanings": " ".join(_flag_word(v) for v in REASONS.values()),
        },
    )
    apis = econ.selected_apis(scenario)
    if apis:
        data["api_monthly_cost_usd"] = (
            (*dims, "api"),
            np.full((*shape, len(apis)), np.nan),
            {"units": "USD/month", "long_name": "API cost of the same monthly volume"},
        )
    if apis:
        # the prices applied, so plots and reports never look them up again
        for field, long in (
            ("usd_per_mtok_input", "API list price of input tokens"),
            ("usd_per_mtok_output", "API list price of output tokens"),
        ):
            data[f"api_{field}"] = (
                "api",
                np.array([getattr(a, field) for a in apis], dtype=float),
                {"units": "USD/Mtok", "long_name": long},
            )
        data["api_source"] = ("api", np.array([a.source for a in apis], dtype=str), {})
    objs = slo_eval.objectives(scenario.slo)
    data["slo_limit_s"] = (
        "objective",
        np.array([o.limit_s for o in objs], dtype=float),
        {"units": "s", "long_name": "the scenario's SLO limits"},
    )
    swept = {a.key: a.values for a in axes}
    data.update(encode_provenance(provenance_rows(scenario, swept)))
    coords: dict[str, Any] = {
        a.name: (a.name, _coord_values(a.values), {"key_path": a.key}) for a in axes
    }
    coords["objective"] = ("objective", np.array([o.key for o in objs], dtype=str))
    if apis:
        coords["api"] = ("api", [a.id for a in apis])
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        title=f"simplan sweep: {scenario.name or 'scenario'}",
        simplan_version=__version__,
        scenario_hash=scenario_hash(scenario),
        scenario_toml=text,
        seed=scenario.simulation.seed,
        method=method,
        hours_per_month=econ.HOURS_PER_MONTH,
        **scenario_facts(scenario),
    )
    return ds


def _coord_values(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=float if any(isinstance(v, float) for v in values) else int)
    return np.array([str(v) for v in values])


def run_sweep(
    path: str | Path,
    *,
    method: str = "fast",
    output: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Evaluate a scenario's ``[sweep]`` grid (see the module docstring)."""
    raw = read_scenario_dict(path)
    scenario = scenario_from_dict(raw, source=str(path))
    if not scenario.sweep:
        raise SimplanError("the scenario has no [sweep] table", source=str(path))
    _check_workload(scenario)
    if method == "fast":
        _fast_can_answer(scenario, str(path))
    if output is not None:
        check_output_path(output)  # before any computation: a bad output path fails fast
    axes = sweep_axes(scenario)
    text = Path(path).read_text(encoding="utf-8")
    ds = _empty_dataset(axes, scenario, text, method)
    shape = tuple(len(a.values) for a in axes)
    if method == "fast":
        flat = evaluate_fast(raw, axes, str(path))
        for name in (*VARIABLES, "feasible", "slo_met", "slo_status", "reason"):
            ds[name].values[...] = np.asarray(flat[name]).reshape(shape)
        _fill_api(ds, scenario, raw, axes, str(path))
        if output is not None:
            write_sweep(ds, Path(output))
        if progress is not None:
            progress(int(np.prod(shape)), int(np.prod(shape)))
        return ds
    if method != "simulate":
        raise SimplanError(f"unknown method {method!r} (allowed: fast, simulate)")
    return _run_simulate(ds, raw, axes, str(path), scenario, output, scheduler, workers, progress)


def _fill_api(
    ds: xr.Dataset, scenario: Scenario, raw: dict[str, Any], axes: list[Axis], source: str
) -> None:
    if "api_monthly_cost_usd" not in ds:
        return
    monthly = ds["monthly_tokens"].values
    share = ds["input_share"].values
    costs = np.stack(
        [econ.api_monthly_cost_usd(a, monthly, share) for a in econ.selected_apis(scenario)],
        axis=-1,
    )
    ds["api_monthly_cost_usd"].values[...] = costs


def _task_slices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """One task per index of every axis but the last."""
    return list(itertools.product(*(range(s) for s in shape[:-1])))


def _run_simulate(
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
    from dask.distributed import Client, LocalCluster, as_completed

    shape = tuple(len(a.values) for a in axes)
    tasks = _task_slices(shape)
    out_path = Path(output) if output is not None else None
    zarr_out = out_path is not None and out_path.suffix == ".zarr"
    done = np.zeros(len(tasks), dtype=bool)
    if zarr_out:
        assert out_path is not None
        done = _prepare_zarr(ds, out_path, len(tasks))
        existing = xr.open_zarr(out_path, consolidated=False)
        ds = existing.load()
        existing.close()
    todo = [t for t, d in zip(tasks, done, strict=True) if not d]
    keys = [a.key for a in axes]
    cluster = None
    client = (
        None  # a finished store being resumed: nothing to compute, no cluster to start
        if not todo
        else Client(scheduler)
        if scheduler
        else Client(
            cluster := LocalCluster(
                n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None
            )
        )
    )
    try:
        futures = {}
        for t in todo:
            assert client is not None
            for j in range(shape[-1]):
                values = [axes[k].values[t[k]] for k in range(len(t))] + [axes[-1].values[j]]
                fut = client.submit(simulate_point, raw, keys, values, source, pure=False)
                futures[fut] = (t, j)
        pending_by_task: dict[tuple[int, ...], int] = {t: shape[-1] for t in todo}
        results: dict[tuple[int, ...], dict[int, dict[str, Any]]] = {t: {} for t in todo}
        finished = int(done.sum()) * shape[-1]
        total = len(tasks) * shape[-1]
        for fut in as_completed(futures) if futures else ():
            t, j = futures[fut]
            results[t][j] = fut.result()
            pending_by_task[t] -= 1
            finished += 1
            if progress is not None:
                progress(finished, total)
            if pending_by_task[t] == 0:
                _store_task(ds, t, results.pop(t), shape)
                if zarr_out:
                    assert out_path is not None
                    _write_task_zarr(ds, out_path, t, tasks.index(t), axes)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    _fill_api(ds, scenario, raw, axes, source)
    if out_path is not None:
        if zarr_out:
            ds[["api_monthly_cost_usd"]].to_zarr(out_path, mode="a") if (
                "api_monthly_cost_usd" in ds
            ) else None
        else:
            write_sweep(ds, out_path)
    return ds.drop_vars("task_done", errors="ignore")


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


def _prepare_zarr(ds: xr.Dataset, path: Path, n_tasks: int) -> np.ndarray:
    """Create the store (or reuse a matching one) and return which tasks are done."""
    if path.exists() or path.is_symlink():
        old = _open_simplan_zarr(path)
        if old is None:
            raise _not_ours(path)
        same = (
            old.attrs.get("scenario_hash") == ds.attrs["scenario_hash"]
            and old.attrs.get("method") == ds.attrs["method"]
            and "task_done" in old
        )
        done = old["task_done"].values.astype(bool) if same else None
        old.close()
        if same and done is not None and done.shape == (n_tasks,):
            return done
        raise SimplanError(
            "the output store holds a different sweep (scenario or method changed); "
            "choose another output path or delete it",
            source=str(path),
        )
    fresh = ds.assign(task_done=("task", np.zeros(n_tasks, dtype=bool)))
    _write_zarr_into_place(fresh, path, by_task=True)
    return np.zeros(n_tasks, dtype=bool)


# --- output paths: never delete or overwrite what simplan did not write ----------------

#: Attributes every sweep simplan writes carries (see ``_empty_dataset``).
_SWEEP_ATTRS = ("scenario_hash", "method", "simplan_version")
#: The file that marks a temporary folder beside the output as simplan's own.
_TMP_MARKER = ".simplan-sweep-tmp"
_NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def _not_ours(path: Path) -> SimplanError:
    what = "a file" if path.is_file() else "a folder that is not a sweep store written by simplan"
    return SimplanError(
        f"the output path exists and is {what}; simplan never deletes or overwrites what it "
        "did not write: choose another output path",
        source=str(path),
    )


def _open_simplan_zarr(path: Path) -> xr.Dataset | None:
    """The Zarr sweep store at ``path`` if simplan wrote it (lazily opened), else None."""
    if not path.is_dir():
        return None
    try:
        ds = xr.open_zarr(path, consolidated=False)
    except Exception:
        return None
    if all(k in ds.attrs for k in _SWEEP_ATTRS):
        return ds
    ds.close()
    return None


def _is_simplan_netcdf(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return all(k in ds.attrs for k in _SWEEP_ATTRS)
    except Exception:
        return False


def check_output_path(path: str | Path) -> None:
    """Raise a SimplanError unless simplan may write a sweep to ``path``.

    Allowed: a path that does not exist (its folder may not exist yet), or one holding
    a sweep simplan wrote (a ``.zarr`` store is then resumed or replaced, a ``.nc`` file
    replaced). Refused: an unknown suffix, a parent that is a file, a ``.zarr`` path that
    is a file or a folder simplan did not write, a ``.nc`` path that is a folder or a
    file that is not a simplan sweep.
    """
    path = Path(path)
    if path.suffix != ".zarr" and path.suffix not in _NETCDF_SUFFIXES:
        raise SimplanError(
            f"unknown output format {path.suffix!r} (use .zarr or .nc)", source=str(path)
        )
    check_output_folder(path.parent, source=str(path), file_name=path.name)
    if not (path.exists() or path.is_symlink()):
        return
    if path.suffix == ".zarr":
        store = _open_simplan_zarr(path)
        if store is None:
            raise _not_ours(path)
        store.close()
    elif path.is_dir():
        raise SimplanError(
            "the output path exists and is a folder; a .nc output is a single file: "
            "choose another output path",
            source=str(path),
        )
    elif not _is_simplan_netcdf(path):
        raise SimplanError(
            "the output path exists and is not a sweep written by simplan; simplan never "
            "overwrites what it did not write: choose another output path",
            source=str(path),
        )


def _make_temp(path: Path) -> Path:
    """A new folder beside ``path``, marked as simplan's; the store is built in ``store``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "target": path.name}
    (tmp / _TMP_MARKER).write_text(json.dumps(marker), encoding="utf-8")
    return tmp


def _temp_marker(tmp: Path, path: Path) -> dict[str, Any] | None:
    """The marker of a temporary folder simplan made for ``path``, else None."""
    if tmp.is_symlink() or not tmp.is_dir():
        return None
    try:
        marker = json.loads((tmp / _TMP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("target") != path.name:
        return None
    return marker


def _discard_temp(tmp: Path, path: Path) -> None:
    """Remove a temporary folder of simplan's; first put back a store moved aside into it."""
    if _temp_marker(tmp, path) is None:
        return
    old = tmp / "old"
    if (old.exists() or old.is_symlink()) and not (path.exists() or path.is_symlink()):
        old.rename(path)  # interrupted between moving the old store aside and the new in
    shutil.rmtree(tmp)


def _remove_stale_temps(path: Path) -> None:
    """Remove temporaries that simplan made for ``path`` in processes that have died."""
    for sibling in path.parent.glob(glob.escape(path.name) + ".tmp-*"):
        marker = _temp_marker(sibling, path)
        if marker is None or marker.get("host") != socket.gethostname():
            continue
        pid = marker.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and not process_alive(pid):
            with contextlib.suppress(OSError):  # best effort: a leftover never blocks
                _discard_temp(sibling, path)


#: Elements per chunk of a finished sweep's variables (8 MB of float64).
BLOCK_ELEMENTS = 1 << 20


def block_chunks(sizes: dict[str, int], block: int = BLOCK_ELEMENTS) -> dict[str, int]:
    """Chunks of about ``block`` elements: trailing axes whole, leading axes split.

    Size-1 chunks along every leading axis made hundreds of thousands of chunk files for a
    large grid (a 600-point sweep took 50 s to write); a finished sweep is written in
    blocks instead.
    """
    chunks = dict(sizes)
    for dim in sizes:  # leading axes first
        inner = math.prod(v for d, v in chunks.items() if d != dim)
        if inner * chunks[dim] <= block:
            break
        chunks[dim] = max(1, block // max(inner, 1))
    return chunks


def _write_zarr_into_place(ds: xr.Dataset, path: Path, *, by_task: bool = False) -> None:
    """Write ``ds`` to a new Zarr store at ``path``, replacing only a simplan store there.

    ``by_task``: one chunk per simulate task (size 1 along every axis but the last), so
    each finished task is written into its own chunks; otherwise in blocks.
    """
    _remove_stale_temps(path)
    tmp = _make_temp(path)
    try:
        dims = [str(d) for d in ds.dims]
        if by_task:
            chunks = {a: 1 for a in dims[:-1]}
        else:  # the grid's axes in blocks; other dimensions (provenance rows) whole
            chunks = block_chunks({str(d): int(ds.sizes[d]) for d in ds["reason"].dims})
        ds.chunk(chunks).to_zarr(tmp / "store", mode="w-", zarr_format=2, consolidated=False)
        if path.exists() or path.is_symlink():
            old = _open_simplan_zarr(path)
            if old is None:
                raise _not_ours(path)
            old.close()
            path.rename(tmp / "old")  # deleted with the temporary folder below
        (tmp / "store").rename(path)
    finally:
        _discard_temp(tmp, path)


def _write_task_zarr(
    ds: xr.Dataset, path: Path, t: tuple[int, ...], task_index: int, axes: list[Axis]
) -> None:
    """Write one task's slice, then mark it done (so a crash in between redoes it)."""
    region = {a.name: slice(i, i + 1) for a, i in zip(axes[:-1], t, strict=True)}
    region[axes[-1].name] = slice(0, len(axes[-1].values))
    names = [n for n in (*VARIABLES, "feasible", "slo_met", "slo_status", "reason")]
    part = ds[names].isel(region)
    part = part.drop_vars([c for c in part.coords])
    part.to_zarr(path, region=region, mode="r+", consolidated=False)
    flag = xr.Dataset({"task_done": ("task", np.array([True]))})
    flag.to_zarr(
        path, region={"task": slice(task_index, task_index + 1)}, mode="r+", consolidated=False
    )


def write_sweep(ds: xr.Dataset, path: Path) -> None:
    """Write a finished sweep to NetCDF (atomically) or Zarr (into a temp store, renamed).

    An existing output is replaced only if simplan wrote it (see :func:`check_output_path`).
    """
    from simplan.results import write_netcdf

    check_output_path(path)
    ds = ds.drop_vars("task_done", errors="ignore")
    if path.suffix == ".zarr":
        _write_zarr_into_place(ds, path)
    else:
        write_netcdf(path, ds)
