"""From raw simulation records to the summary a planner reads.

Steady-state figures use the measurement window: from ``warmup_s`` to the last arrival
(open loop) or ``duration_s`` (closed loop); an ``offline`` batch is measured from t = 0
to its last completion (its makespan), as max-load benchmarks report it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from simplan.cost import HOURS_PER_MONTH, fleet_cost, pool_usd_per_hour, selected_apis
from simplan.fleet import describe
from simplan.kernels import layout as c
from simplan.recorder import COMPLETED, PENDING, REJECTED
from simplan.sim import SimResult, fleet_max_rate_per_s

PERCENTILES = (50, 90, 95, 99)


def _stats(x: np.ndarray) -> dict[str, float | None]:
    if x.size == 0:
        return {"mean": None, **{f"p{p}": None for p in PERCENTILES}}
    out: dict[str, float | None] = {"mean": float(np.mean(x))}
    for p, v in zip(PERCENTILES, np.percentile(x, PERCENTILES), strict=True):
        out[f"p{p}"] = float(v)
    return out


def measurement_window(res: SimResult) -> tuple[float, float]:
    """(start_s, end_s) of the steady-state window."""
    w = res.scenario.workload
    if w.arrival == "offline":
        return 0.0, res.end_s
    end = float(w.duration_s) if w.arrival == "closed" and w.duration_s else res.arrival_end_s
    start = min(res.scenario.simulation.warmup_s, end)
    if end - start <= 0:
        return 0.0, max(res.end_s, 1e-9)
    return start, end


def request_table(res: SimResult) -> dict[str, np.ndarray]:
    """Per-request derived columns (NaN where not applicable)."""
    r = res.requests
    arrival = r.column("arrival_s")
    first = r.column("first_token_s")
    finish = r.column("finish_s")
    sched = r.column("scheduled_s")
    out_tok = r.column("output_tokens").astype(float)
    status = r.column("status")
    done = status == COMPLETED
    nan = np.full(r.n, np.nan)
    ttft = np.where(done, first - arrival, nan)
    e2e = np.where(done, finish - arrival, nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(done & (out_tok > 1), (finish - first) / (out_tok - 1), nan)
    queue = np.where(sched >= 0, sched - arrival, nan)
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e, "queue_delay_s": queue}


def _interp_cumulative(t: np.ndarray, y: np.ndarray, at: float) -> float:
    return float(np.interp(at, t, y)) if t.size else 0.0


def fleet_capacity_tokens_per_s(res: SimResult, mean_in: float, mean_out: float) -> float:
    """Peak (input + output) tokens/s of the fleet at the workload's mean lengths.

    The compiled steady-state model's sustainable request rate
    (:func:`simplan.sim.fleet_max_rate_per_s`, the same capacity ``plan``, sweeps and
    overload detection use) times the tokens of a request.
    """
    return fleet_max_rate_per_s(res.pools, mean_in, mean_out) * (mean_in + mean_out)


def summarize(res: SimResult) -> dict[str, Any]:
    """The run's summary (the contents of ``summary.json``)."""
    sc = res.scenario
    r = res.requests
    status = r.column("status")
    arrival = r.column("arrival_s")
    start, end = measurement_window(res)
    window = end - start
    table = request_table(res)
    in_window = (arrival >= start) & (arrival <= end) & (status == COMPLETED)

    ts = np.asarray(res.series.time_s)
    series = {
        f: res.series.array(f).sum(axis=1)
        for f in ("output_tokens", "input_tokens", "flops", "bytes")
    }
    busy = res.series.array("busy_fraction")
    out_tok = _interp_cumulative(ts, series["output_tokens"], end) - _interp_cumulative(
        ts, series["output_tokens"], start
    )
    in_tok = _interp_cumulative(ts, series["input_tokens"], end) - _interp_cumulative(
        ts, series["input_tokens"], start
    )
    completed_in_window = int(in_window.sum())

    n_rep = len(res.engines)
    busy_w = (
        np.array(
            [
                _interp_cumulative(ts, busy[:, i], end) - _interp_cumulative(ts, busy[:, i], start)
                for i in range(n_rep)
            ]
        )
        if ts.size
        else np.zeros(n_rep)
    )
    utilization = float(np.clip(busy_w / window, 0.0, 1.0).mean()) if window > 0 else 0.0

    kv_used = res.series.array("kv_blocks_used")
    totals = np.array([max(e.total_blocks, 1) for e in res.engines], dtype=float)
    mask = (ts >= start) & (ts <= end)
    kv_util = float((kv_used[mask] / totals).mean()) if mask.any() else 0.0
    in_system = res.series.array("running") + res.series.array("waiting")
    mean_in_system = float(in_system[mask].sum(axis=1).mean()) if mask.any() else 0.0

    flops = _interp_cumulative(ts, series["flops"], end) - _interp_cumulative(
        ts, series["flops"], start
    )
    nbytes = _interp_cumulative(ts, series["bytes"], end) - _interp_cumulative(
        ts, series["bytes"], start
    )
    peak_flops = sum(
        p.section.replicas * p.replica.num_gpus * p.replica.cfg[c.PEAK_GEMM] for p in res.pools
    )
    peak_bw = sum(p.section.replicas * p.replica.num_gpus * p.replica.cfg[c.BW] for p in res.pools)

    slo = sc.slo.objectives()
    met_all = np.ones(r.n, dtype=bool)
    objectives: dict[str, Any] = {}
    for (metric, stat), limit in slo.items():
        values = table[f"{metric}_s"][in_window]
        values = values[~np.isnan(values)]
        achieved = _stats(values)[stat] if values.size else None
        per_req = table[f"{metric}_s"]
        met_all &= np.nan_to_num(per_req, nan=0.0) <= limit
        objectives[f"{metric}_{stat}_s"] = {
            "limit": limit,
            "achieved": achieved,
            "met": achieved is not None and achieved <= limit,
        }
    goodput_mask = in_window & met_all
    attainment = float(goodput_mask.sum() / completed_in_window) if completed_in_window else 0.0

    out_rate = out_tok / window if window > 0 else 0.0
    in_rate = in_tok / window if window > 0 else 0.0
    lengths_in = r.column("input_tokens")
    lengths_out = r.column("output_tokens")
    mean_in = float(lengths_in.mean()) if r.n else 0.0
    mean_out = float(lengths_out.mean()) if r.n else 0.0
    input_share = mean_in / (mean_in + mean_out) if mean_in + mean_out > 0 else 0.5

    elastic = describe(res.fleet, res.end_s)
    hours = res.end_s / 3600.0
    # what the replicas were billed (by the second, in the states providers charge for),
    # averaged over the run: a fixed fleet's price, or an elastic fleet's mean
    fleet_usd_per_hour = (
        elastic["fleet_cost_usd"] / hours
        if hours > 0
        else sum(
            pool_usd_per_hour(
                p.section.gpu, p.gpus, p.section.pricing, p.section.price_usd_per_gpu_hour
            )
            for p in res.pools
        )
    )
    offered = in_rate + out_rate
    if sc.workload.monthly_tokens is not None:
        monthly_tokens = float(sc.workload.monthly_tokens)
    else:
        offered_tokens_per_s = _offered_tokens_per_s(res, start, end)
        monthly_tokens = (offered_tokens_per_s or offered) * HOURS_PER_MONTH * 3600.0
    capacity = fleet_capacity_tokens_per_s(res, mean_in, mean_out) * HOURS_PER_MONTH * 3600.0
    cost = fleet_cost(
        fleet_usd_per_hour=fleet_usd_per_hour,
        input_tokens_per_s=in_rate,
        output_tokens_per_s=out_rate,
        monthly_tokens=monthly_tokens,
        input_share=input_share,
        capacity_tokens_per_month=capacity,
        apis=selected_apis(sc),
    )
    arrivals_in_window = int(((arrival >= start) & (arrival <= end)).sum())
    summary: dict[str, Any] = {
        "scenario": sc.name,
        "requests_total": int(r.n),
        "requests_completed": int((status == COMPLETED).sum()),
        "requests_rejected": int((status == REJECTED).sum()),
        "requests_in_flight": int((status == PENDING).sum()),
        "reject_reasons": list(r.reject_reasons),
        "preemptions": int(r.column("preemptions").sum()),
        "duration_s": float(res.end_s),
        "window_start_s": start,
        "window_end_s": end,
        "output_tokens_per_s": out_rate,
        "input_tokens_per_s": in_rate,
        "requests_per_s": completed_in_window / window if window > 0 else 0.0,
        "offered_requests_per_s": arrivals_in_window / window if window > 0 else 0.0,
        "ttft_s": _stats(table["ttft_s"][in_window]),
        "tpot_s": _stats(table["tpot_s"][in_window & ~np.isnan(table["tpot_s"])]),
        "e2e_s": _stats(table["e2e_s"][in_window]),
        "queue_delay_s": _stats(table["queue_delay_s"][in_window]),
        "gpu_utilization": utilization,
        "capacity_utilization": (in_rate + out_rate) * HOURS_PER_MONTH * 3600.0 / capacity
        if capacity > 0
        else None,
        "kv_cache_utilization": kv_util,
        "mean_requests_in_system": mean_in_system,
        "mfu": flops / (peak_flops * window) if window > 0 else 0.0,
        "mbu": nbytes / (peak_bw * window) if window > 0 else 0.0,
        "slo": objectives,
        "slo_met": all(o["met"] for o in objectives.values()) if objectives else None,
        "slo_attainment": attainment,
        "goodput_requests_per_s": float(goodput_mask.sum()) / window if window > 0 else 0.0,
        "num_gpus": int(sum(p.gpus for p in res.pools)),
        "replicas": len(res.engines),
        **cost,
        "notes": list(res.notes),
    }
    if _is_elastic(sc):
        api_usd_per_hour = elastic["cost_by_part_usd"]["api"] / hours if hours > 0 else 0.0
        summary["elastic"] = {
            **elastic,
            "api_overflow_usd_per_hour": api_usd_per_hour,
            "total_monthly_cost_usd": (fleet_usd_per_hour + api_usd_per_hour) * HOURS_PER_MONTH,
            "api_share_of_requests": elastic["requests_to_api"] / max(r.n, 1),
        }
    offered = summary["offered_requests_per_s"]
    if summary["requests_in_flight"] or offered > 1.05 * summary["requests_per_s"] > 0:
        sustained = _sustained_rate(res, start)
        summary["saturation"] = {
            "offered_requests_per_s": offered,
            "sustained_requests_per_s": sustained,
            "queue_growth_requests_per_s": max(offered - sustained, 0.0),
        }
    if summary["requests_in_flight"] or (cost["monthly_tokens"] > capacity > 0):
        summary["notes"].append(
            "the offered volume exceeds what this fleet sustains; add replicas or see "
            "`fleet_capacity_mtok_per_month`"
        )
    return _clean(summary)


def _is_elastic(sc: Any) -> bool:
    """Whether the run had autoscaling, spot interruptions, failures or an overflow API."""
    pools = [sc.hardware, *sc.hardware.pools]
    return bool(
        sc.autoscaling
        or sc.failures
        or sc.overflow
        or any(p.interruptions_per_hour > 0 for p in pools)
    )


def _sustained_rate(res: SimResult, start: float) -> float:
    """Completions per second from ``start`` to the end of the run (the saturated rate)."""
    finish = res.requests.column("finish_s")
    done = (res.requests.column("status") == COMPLETED) & (finish >= start)
    span = res.end_s - start
    return float(done.sum()) / span if span > 0 else 0.0


def _offered_tokens_per_s(res: SimResult, start: float, end: float) -> float | None:
    r = res.requests
    arrival = r.column("arrival_s")
    m = (arrival >= start) & (arrival <= end)
    if end - start <= 0 or not m.any():
        return None
    tokens = r.column("input_tokens")[m].sum() + r.column("output_tokens")[m].sum()
    return float(tokens) / (end - start)


def _clean(obj: Any) -> Any:
    """Plain JSON types; non-finite floats become None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
