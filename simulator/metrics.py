"""From raw simulation records to the summary a planner reads.

Steady-state figures use the measurement window: from ``warmup_s`` to the last arrival
(open loop) or ``duration_s`` (closed loop); an ``offline`` batch is measured from t = 0
to its last completion (its makespan), as max-load benchmarks report it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from simplan import slo as slo_eval
from simplan.calibration import error_band
from simplan.economics import (
    SECONDS_PER_MONTH,
    fleet_economics,
    monthly_volume_tokens,
    pool_usd_per_hour,
    selected_apis,
)
from simplan.feature_metrics import feature_metrics, session_ramp_notes
from simplan.fleet import describe, provisioned_capacity
from simplan.job import is_job, job_summary
from simplan.pools import fleet_max_rate_per_s, max_rate_per_replica
from simplan.recorder import COMPLETED, PENDING, REJECTED
from simplan.run_notes import (
    attention_dp_note,
    falls_behind,
    preemption_note,
    rejection_note,
    sustained_rate,
)
from simplan.sim import SimResult
from simplan.validated import answer_notes
from simplan.workload import busiest_hour, mean_rate_per_s, peak_rate_per_s

_stats = slo_eval.summary_stats


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
    # the first visible token follows the hidden reasoning: R tokens after the first, at
    # the request's own mean time per token (decode runs space tokens near evenly)
    hidden = r.column("reasoning_tokens").astype(float)
    ttfvt = ttft + np.where(hidden > 0, hidden * np.nan_to_num(tpot), 0.0)
    return {
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_s": e2e,
        "queue_delay_s": queue,
        "ttfvt_s": ttfvt,
    }


def _window_delta(t: np.ndarray, y: np.ndarray, start: float, end: float) -> float:
    """How much the cumulative series ``y`` (sampled at ``t``) grew from start to end."""
    return _interp_cumulative(t, y, end) - _interp_cumulative(t, y, start)


def _interp_cumulative(t: np.ndarray, y: np.ndarray, at: float) -> float:
    return float(np.interp(at, t, y)) if t.size else 0.0


def _busiest_load(
    sc: Any, arrival: np.ndarray, start: float, end: float, mean_in: float, mean_out: float
) -> tuple[float, float, float]:
    """Requests, input and output tokens per second at the busiest hour: the scenario's
    rate (with its daily cycle's peak), else what arrived in the measured window."""
    if sc.workload.rate_per_s:
        rate = peak_rate_per_s(sc.workload)
    else:
        window = end - start
        rate = float(((arrival >= start) & (arrival <= end)).sum() / window) if window > 0 else 0.0
    return rate, rate * mean_in, rate * mean_out


def fleet_capacity_tokens_per_s(
    res: SimResult, mean_in: float, mean_out: float, replica_up_s: np.ndarray | None = None
) -> float:
    """Peak (input + output) tokens/s of the fleet at the workload's mean lengths.

    The compiled steady-state model's sustainable request rate (the same capacity
    ``plan``, sweeps and overload detection use) times the tokens of a request. With
    ``replica_up_s`` (seconds each engine was up, over a window of ``replica_up_s`` total
    length), each replica counts for the share of the window it was up, so an elastic
    fleet's capacity is its time-mean.
    """
    if replica_up_s is None:
        return fleet_max_rate_per_s(res.pools, mean_in, mean_out) * (mean_in + mean_out)

    per_pool = {p.index: max_rate_per_replica(p, mean_in, mean_out) for p in res.pools}
    rates = np.array([per_pool[e.pool] for e in res.engines])
    roles = np.array([e.role for e in res.engines])
    if (roles == "both").all():
        return float(rates @ replica_up_s) * (mean_in + mean_out)
    # prefill and decode pools: the fleet sustains what the slower side does
    sides = [float(rates[roles == r] @ replica_up_s[roles == r]) for r in ("prefill", "decode")]
    return min(sides) * (mean_in + mean_out)


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
    busy_s = res.series.array("busy_s")
    out_tok = _window_delta(ts, series["output_tokens"], start, end)
    in_tok = _window_delta(ts, series["input_tokens"], start, end)
    completed_in_window = int(in_window.sum())

    n_rep = len(res.engines)
    busy_w = np.array([_window_delta(ts, busy_s[:, i], start, end) for i in range(n_rep)])
    # denominators of an elastic fleet: only the replicas (and GPUs) that were up, for as
    # long as they were up in the window
    up = provisioned_capacity(res.fleet, start, end)
    up_s = np.asarray(up["replica_up_s"], dtype=float)
    utilization = float(np.clip(busy_w.sum() / up_s.sum(), 0.0, 1.0)) if up_s.sum() > 0 else 0.0

    kv_used = res.series.array("kv_blocks_used")
    totals = np.array([max(e.total_blocks, 1) for e in res.engines], dtype=float)
    mask = (ts >= start) & (ts <= end)
    kv_util = float((kv_used[mask] / totals).mean()) if mask.any() else 0.0
    in_system = res.series.array("running") + res.series.array("waiting")
    mean_in_system = float(in_system[mask].sum(axis=1).mean()) if mask.any() else 0.0

    flops = _window_delta(ts, series["flops"], start, end)
    nbytes = _window_delta(ts, series["bytes"], start, end)
    judged = slo_eval.judge_run(sc, table, arrival, in_window)
    goodput_mask = in_window & slo_eval.requests_meeting_all(table, judged["objectives"])
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
        else sum(pool_usd_per_hour(sc, p.section.gpu, p.section.pricing, p.gpus) for p in res.pools)
    )
    api_usd_per_hour = elastic["cost_by_part_usd"]["api"] / hours if hours > 0 else 0.0
    offered_tokens_per_s = _offered_tokens_per_s(res, start, end)
    if sc.workload.diurnal:
        # the day's mean, as plan and sweep price it, whatever part of the day was run
        offered_tokens_per_s = mean_rate_per_s(sc.workload) * (mean_in + mean_out)
    monthly_tokens = float(
        monthly_volume_tokens(
            sc.workload.monthly_tokens,
            in_rate + out_rate if offered_tokens_per_s is None else offered_tokens_per_s,
        )
    )
    # overflow to an API costs per token it served: the run's API cost per offered token,
    # at the monthly volume (a stated monthly_tokens scales it like everything else)
    run_tokens = float(r.column("input_tokens").sum() + r.column("output_tokens").sum())
    api_monthly = (
        elastic["cost_by_part_usd"]["api"] / run_tokens * monthly_tokens if run_tokens > 0 else 0.0
    )
    capacity = (
        fleet_capacity_tokens_per_s(res, mean_in, mean_out, up_s / window if window > 0 else None)
        * SECONDS_PER_MONTH
    )
    cost = (
        _job_cost(res, elastic, fleet_usd_per_hour)
        if is_job(sc)
        else fleet_economics(
            fleet_usd_per_hour=fleet_usd_per_hour,
            api_overflow_monthly_usd=api_monthly,
            monthly_tokens=monthly_tokens,
            input_share=input_share,
            capacity_tokens_per_month=capacity,
            apis=selected_apis(sc),
            busiest_load=_busiest_load(sc, arrival, start, end, mean_in, mean_out),
        )
    )
    arrivals_in_window = int(((arrival >= start) & (arrival <= end)).sum())
    lo_err, hi_err = error_band()
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
        "capacity_utilization": (in_rate + out_rate) * SECONDS_PER_MONTH / capacity
        if capacity > 0
        else None,
        "kv_cache_utilization": kv_util,
        "mean_requests_in_system": mean_in_system,
        "mfu": flops / up["peak_flop"] if up["peak_flop"] > 0 else 0.0,
        "mbu": nbytes / up["peak_bytes"] if up["peak_bytes"] > 0 else 0.0,
        "slo": judged["verdicts"],
        "slo_met": slo_eval.all_met(judged["verdicts"]),
        "slo_judged_on": judged["judged_on"],
        "slo_hourly": judged["hourly"],
        "slo_attainment": attainment,
        "goodput_requests_per_s": float(goodput_mask.sum()) / window if window > 0 else 0.0,
        "num_gpus": up["peak_gpus"],
        "replicas": up["peak_replicas"],
        "mean_replicas_up": up["mean_replicas"],
        # the model's signed throughput error against published measurements (10th and
        # 90th percentile): how sure the simulated capacity is
        "model_error_p10": lo_err,
        "model_error_p90": hi_err,
        **cost,
        "notes": list(res.notes),
    }
    summary.update(feature_metrics(res, table, in_window, mask, totals))
    summary["notes"] += session_ramp_notes(res, summary)
    if summary["preemptions"]:
        summary["notes"].append(preemption_note(res))
    if summary["requests_rejected"]:
        summary["notes"].append(rejection_note(r))
    dp_caveat = attention_dp_note(res)
    if dp_caveat:
        summary["notes"].append(dp_caveat)
    if _is_elastic(sc):
        summary["elastic"] = {
            **elastic,
            "api_overflow_usd_per_hour": api_usd_per_hour,
            "total_monthly_cost_usd": cost["monthly_cost_usd"],
            "api_share_of_requests": elastic["requests_to_api"] / max(r.n, 1),
        }
    if is_job(sc):
        job = cost["job"]
        if job["deadline_met"] is False:
            summary["notes"].append(
                f"the job takes {job['makespan_s']:,.0f} s, past its deadline of "
                f"{job['deadline_s']:,.0f} s: add replicas (`simplan plan` sizes the fleet)"
            )
        return plain_json(summary)
    offered = summary["offered_requests_per_s"]
    behind = offered > 1.05 * summary["requests_per_s"] > 0 or falls_behind(res, start, end)
    if summary["requests_in_flight"] or behind:
        sustained = sustained_rate(res, start)
        summary["saturation"] = {
            "offered_requests_per_s": offered,
            "sustained_requests_per_s": sustained,
            "queue_growth_requests_per_s": max(offered - sustained, 0.0),
        }
    if judged["judged_on"] == "the measurement window" and busiest_hour(sc.workload) is not None:
        summary["notes"].append(
            "the run does not reach the busiest hour of the daily cycle: the SLO is judged "
            "over the whole window; run at least a day to judge it at the peak"
        )
    # the architecture the pools were built with (arch() would re-read a config.json)
    summary["notes"].extend(
        answer_notes(
            [p.section.gpu for p in res.pools],
            res.pools[0].replica.arch if res.pools else None,
            sc.engine.preset,
            max((p.replica.tp for p in res.pools), default=1),
        )
    )
    if summary["requests_in_flight"] or (cost["monthly_tokens"] > capacity > 0):
        summary["notes"].append(
            "the offered volume exceeds what this fleet sustains; add replicas or see "
            "`fleet_capacity_mtok_per_month`"
        )
    return plain_json(summary)


def _job_cost(res: SimResult, elastic: dict[str, Any], fleet_usd_per_hour: float) -> dict[str, Any]:
    """The money of a finite job, in place of the monthly figures (which do not apply):
    its GPU time as billed and each API for its tokens (:mod:`simplan.job`)."""
    job = job_summary(res)
    if _is_elastic(res.scenario):  # billed as the elastic fleet ran, plus API overflow
        job["fleet_cost_usd"] = elastic["fleet_cost_usd"] + elastic["cost_by_part_usd"]["api"]
    tokens = job["input_tokens"] + job["output_tokens"]
    out = job["output_tokens"]
    return {
        "fleet_usd_per_hour": fleet_usd_per_hour,
        "fleet_monthly_cost_usd": None,
        "api_overflow_monthly_cost_usd": None,
        "monthly_cost_usd": None,
        "monthly_tokens": None,
        "usd_per_mtok_total": job["fleet_cost_usd"] / tokens * 1e6 if tokens else None,
        "usd_per_mtok_output": job["fleet_cost_usd"] / out * 1e6 if out else None,
        "fleet_capacity_mtok_per_month": None,
        "volume_within_capacity": None,
        "api": {},
        "job": job,
    }


def _is_elastic(sc: Any) -> bool:
    """Whether the run had autoscaling, spot interruptions, failures or an overflow API."""
    pools = [sc.hardware, *sc.hardware.pools]
    return bool(
        sc.autoscaling
        or sc.failures
        or sc.overflow
        or any(p.interruptions_per_hour > 0 for p in pools)
    )


def _offered_tokens_per_s(res: SimResult, start: float, end: float) -> float | None:
    r = res.requests
    arrival = r.column("arrival_s")
    m = (arrival >= start) & (arrival <= end)
    if end - start <= 0 or not m.any():
        return None
    tokens = r.column("input_tokens")[m].sum() + r.column("output_tokens")[m].sum()
    return float(tokens) / (end - start)


def plain_json(obj: Any) -> Any:
    """Plain JSON types; non-finite floats become None."""
    if isinstance(obj, dict):
        return {k: plain_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain_json(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj
