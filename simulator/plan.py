"""`simplan plan`: the cheapest fleet that meets the SLO at the target load.

Candidates are every combination of GPU type, weight scheme, TP degree and pricing mode
(from the command line, or the scenario's ``[sweep]`` axes of those keys, or the
scenario's own choice). For each, the compiled steady-state model gives the largest
request rate one replica sustains within the SLO; the fleet needs
``ceil(target rate / that rate)`` replicas. Candidates are ranked by monthly cost.

For each API the plan reports the monthly cost of the same volume and the crossover
volume above which self-hosting the recommended configuration is cheaper, and a hybrid:
a fleet sized for part of the load with the overflow sent to the API, at the replica
count that minimises the total (with a ``diurnal`` profile the overflow is the part of
each hour's rate above the fleet's capacity).

Uncertainty: the model's signed error against the published measurements has a 10th
and 90th percentile (``calibration.toml``: ``error_p10``, ``error_p90``); the plan
recomputes the fleet with capacities and latencies shifted by that spread, giving a band
on replicas, cost and latency.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from simplan import catalog
from simplan.cost import HOURS_PER_MONTH, ApiQuote, selected_apis
from simplan.errors import SimplanError
from simplan.perf import calibration
from simplan.scenario import Scenario, read_scenario_dict, scenario_from_dict
from simplan.sweep import _replica_cfg
from simplan.workload import mean_length

PLAN_KEYS = {
    "hardware.gpu": "gpu",
    "model.weights": "weights",
    "hardware.tp": "tp",
    "hardware.pricing": "pricing",
}


@dataclass
class Candidate:
    gpu: str
    weights: str
    tp: int
    pricing: str
    feasible: bool
    reason: str = ""
    replicas: int = 0
    gpus: int = 0
    replica_usd_per_hour: float = math.nan
    replica_max_rate_per_s: float = math.nan
    replica_rate_under_slo_per_s: float = math.nan
    monthly_cost_usd: float = math.nan
    usd_per_mtok_total: float = math.nan
    ttft_s: float = math.nan
    tpot_s: float = math.nan
    utilization: float = math.nan
    band: dict[str, Any] = field(default_factory=dict)


#: Candidates considered when neither the command line nor the scenario's [sweep] names
#: any: the data-centre GPUs of the catalog, the common weight formats, the TP degrees of
#: one node. The scenario's own choice is always included.
DEFAULT_CANDIDATES: dict[str, list[Any]] = {
    "hardware.gpu": ["a100-sxm4-80gb", "h100-sxm", "h200", "l40s"],
    "model.weights": ["fp16", "fp8", "int8", "int4-awq"],
    "hardware.tp": [1, 2, 4, 8],
}


def _candidates(
    raw: dict[str, Any], scenario: Scenario, overrides: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    choices: dict[str, list[Any]] = {}
    any_given = any(overrides.values()) or any(k in scenario.sweep for k in PLAN_KEYS)
    for key, short in PLAN_KEYS.items():
        section, leaf = key.split(".")
        own = getattr(getattr(scenario, section), leaf)
        if overrides.get(short):
            choices[key] = list(overrides[short])
        elif key in scenario.sweep and isinstance(scenario.sweep[key], list):
            choices[key] = list(scenario.sweep[key])  # a list axis
        elif not any_given and key in DEFAULT_CANDIDATES:
            choices[key] = list(dict.fromkeys([own, *DEFAULT_CANDIDATES[key]]))
        else:
            choices[key] = [own]
    keys = list(choices)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices.values())]


def _scenario_for(raw: dict[str, Any], cand: dict[str, Any], source: str) -> Scenario:
    trial = copy.deepcopy(raw)
    trial.pop("sweep", None)
    for key, value in cand.items():
        section, leaf = key.split(".")
        trial.setdefault(section, {})[leaf] = value
    trial["hardware"]["replicas"] = 1
    trial["hardware"].pop("pools", None)
    return scenario_from_dict(trial, source=source)


def _evaluate(sc: Scenario, target_rate: float, scale: float = 1.0) -> Candidate:
    """Size a fleet of this candidate for ``target_rate``; ``scale`` multiplies capacities."""
    from simplan.kernels.grid import capacity_many, operating_point_many

    hw = sc.hardware
    cand = Candidate(hw.gpu, sc.model.weights, hw.tp, hw.pricing, feasible=False)
    cfg, why = _replica_cfg(sc)
    if why == 1:
        cand.reason = "does not fit in GPU memory"
        return cand
    if why == 2:
        from simplan.errors import InfeasibleError
        from simplan.perf import check_parallelism

        try:
            check_parallelism(sc.model.arch(), catalog.gpu(hw.gpu), hw.tp, hw.pp)
        except InfeasibleError as exc:
            cand.reason = (
                "; ".join(f"{p.key_path} = {p.value}: {p.message}" for p in exc.problems)
                or exc.summary
            )
        return cand
    i_len = mean_length(sc.workload.input_tokens, sc)
    o_len = mean_length(sc.workload.output_tokens, sc)
    ttft_lim, tpot_lim = sc.slo.tightest_limits()
    cap = capacity_many(
        cfg[None, :],
        np.array([i_len]),
        np.array([o_len]),
        np.array([ttft_lim * scale]),
        np.array([tpot_lim * scale]),
    )
    r_max, r_slo = float(cap[0, 1]) * scale, float(cap[0, 2]) * scale
    gpu = catalog.gpu(hw.gpu)
    price = hw.price_usd_per_gpu_hour or gpu.price_usd_per_hour(hw.pricing)
    cand.replica_usd_per_hour = price * hw.tp * hw.pp
    cand.replica_max_rate_per_s = r_max
    cand.replica_rate_under_slo_per_s = r_slo
    if r_slo <= 0:
        cand.reason = "cannot meet the SLO at any load"
        return cand
    replicas = max(1, math.ceil(target_rate / r_slo * (1 - 1e-12)))
    per_replica = target_rate / replicas
    op = operating_point_many(
        cfg[None, :],
        np.array([per_replica / scale]),
        np.array([i_len]),
        np.array([o_len]),
        np.array([r_max / scale]),
    )
    cand.feasible = True
    cand.replicas = replicas
    cand.gpus = replicas * hw.tp * hw.pp
    cand.monthly_cost_usd = replicas * cand.replica_usd_per_hour * HOURS_PER_MONTH
    tokens_per_s = target_rate * (i_len + o_len)
    cand.usd_per_mtok_total = replicas * cand.replica_usd_per_hour / (tokens_per_s * 3600) * 1e6
    cand.ttft_s = float(op[0, 3]) / scale
    cand.tpot_s = float(op[0, 4]) / scale
    cand.utilization = per_replica / r_max
    return cand


def _hybrid(
    cand: Candidate, sc: Scenario, api: ApiQuote, i_len: float, o_len: float
) -> dict[str, Any]:
    """Cheapest split between a fleet of n replicas and the API for the overflow."""
    w = sc.workload
    rate = float(w.rate_per_s or 0.0)
    hourly = rate * (np.asarray(w.diurnal) if w.diurnal else np.ones(24))
    usd_per_request = (i_len * api.usd_per_mtok_input + o_len * api.usd_per_mtok_output) / 1e6
    days = HOURS_PER_MONTH / 24.0
    best: dict[str, Any] | None = None
    n_max = max(cand.replicas, 1)
    for n in range(0, n_max + 1):
        capacity = n * cand.replica_rate_under_slo_per_s
        overflow = np.maximum(hourly - capacity, 0.0)  # req/s above the fleet, per hour
        api_requests = float(overflow.sum()) * 3600.0 * days
        fleet = n * cand.replica_usd_per_hour * HOURS_PER_MONTH
        api_cost = api_requests * usd_per_request
        total = fleet + api_cost
        if best is None or total < best["total_monthly_usd"] - 1e-9:
            best = {
                "replicas": n,
                "fleet_monthly_usd": fleet,
                "api_monthly_usd": api_cost,
                "total_monthly_usd": total,
                "api_share_of_requests": api_requests / max(hourly.sum() * 3600 * days, 1e-12),
            }
    assert best is not None
    return best


def _elastic_options(best: Candidate, scenario: Scenario) -> list[dict[str, Any]]:
    """Fleets that follow the hourly load (diurnal profile) instead of sizing for the peak.

    Each hour needs ``ceil(rate_h / rate under the SLO)`` replicas. Autoscaled on-demand
    pays for those replica-hours; a reserved base covers the quietest hour's need all
    month at the reserved price, with on-demand replicas added above it. Cold starts and
    the scale-down delay are ignored here (``simplan run`` with [autoscaling] has them).
    """
    w = scenario.workload
    mult = np.asarray(w.diurnal if w.diurnal else [1.0] * 24, dtype=float)
    need = np.ceil(
        float(w.rate_per_s or 0.0) * mult / best.replica_rate_under_slo_per_s - 1e-9
    ).astype(int)
    need = np.maximum(need, 1)
    gpu = catalog.gpu(best.gpu)
    gpus = best.gpus // max(best.replicas, 1)
    days = HOURS_PER_MONTH / 24.0
    od = gpu.price_usd_per_hour("on_demand") * gpus
    reserved = gpu.price_usd_per_hour("reserved") * gpus
    base = int(need.min())
    peak_fixed = best.monthly_cost_usd
    options = [
        {
            "option": f"fixed: {best.replicas} x {best.pricing} for the peak",
            "monthly_cost_usd": peak_fixed,
            "replica_hours_per_day": best.replicas * 24,
        },
        {
            "option": "autoscaled on-demand, following the hourly load",
            "monthly_cost_usd": float(need.sum()) * od * days,
            "replica_hours_per_day": int(need.sum()),
        },
        {
            "option": f"{base} reserved for the base + on-demand above it",
            "monthly_cost_usd": base * reserved * HOURS_PER_MONTH
            + float((need - base).sum()) * od * days,
            "replica_hours_per_day": int(need.sum()),
        },
    ]
    return sorted(options, key=lambda o: o["monthly_cost_usd"])


def _reasons(
    best: Candidate, feasible: list[Candidate], infeasible: list[Candidate], scenario: Scenario
) -> list[str]:
    """Why the recommendation: what it costs against the alternatives, what limits it."""
    out = [
        f"{best.replicas} x {best.gpu} (tp={best.tp}, {best.weights} weights, {best.pricing}) "
        f"meets the SLO at the target load for ${best.monthly_cost_usd:,.0f}/month, "
        f"the least of {len(feasible)} feasible candidates"
    ]
    if len(feasible) > 1:
        nxt = feasible[1]
        diff = nxt.monthly_cost_usd / best.monthly_cost_usd - 1
        cost = (
            f"costs {diff:+.0%}"
            if abs(diff) >= 0.005
            else ("costs the same but ranks lower on quality loss or headroom")
        )
        out.append(
            f"the runner-up, {nxt.replicas} x {nxt.gpu} (tp={nxt.tp}, {nxt.weights}), {cost}"
        )
    other_gpus = sorted({c.gpu for c in feasible if c.gpu != best.gpu})
    for gpu in other_gpus:
        c = next(c for c in feasible if c.gpu == gpu)
        out.append(
            f"the cheapest {gpu} fleet ({c.replicas} x tp={c.tp}, {c.weights}) costs "
            f"{c.monthly_cost_usd / best.monthly_cost_usd - 1:+.0%}"
        )
    out.append(
        f"each replica serves {best.replica_rate_under_slo_per_s:.2f} req/s within the SLO "
        f"(of {best.replica_max_rate_per_s:.2f} req/s it sustains at all); at the target the "
        f"fleet runs at {best.utilization:.0%} of what it sustains"
    )
    quality = catalog.weights(best.weights).quality_loss_pct_range
    if quality[1] > 0:
        out.append(
            f"{best.weights} weights cost {quality[0]:g}-{quality[1]:g}% in published "
            "quality benchmarks; compare with the runners-up if that matters"
        )
    fits = [c for c in infeasible if "fit" in c.reason]
    if fits:
        out.append(
            f"{len(fits)} candidates do not fit in GPU memory and "
            f"{len(infeasible) - len(fits)} cannot meet the SLO or are invalid"
        )
    return out


def plan(
    path: str | Path,
    *,
    gpus: list[str] | None = None,
    weights: list[str] | None = None,
    tp: list[int] | None = None,
    pricing: list[str] | None = None,
    top: int = 5,
) -> dict[str, Any]:
    """Rank candidate fleets for a scenario's workload and SLO (see the module docstring)."""
    raw = read_scenario_dict(path)
    scenario = scenario_from_dict(raw, source=str(path))
    w = scenario.workload
    if w.rate_per_s is None:
        raise SimplanError(
            "`simplan plan` needs workload.rate_per_s (the target load)", source=str(path)
        )
    target = float(w.rate_per_s)
    if w.diurnal:
        target *= float(max(w.diurnal))  # size for the peak hour
    overrides: dict[str, list[Any]] = {
        "gpu": gpus or [],
        "weights": weights or [],
        "tp": tp or [],
        "pricing": pricing or [],
    }
    cal = calibration()
    lo_err, hi_err = float(cal.get("error_p10", 0.0)), float(cal.get("error_p90", 0.0))
    results: list[Candidate] = []
    for cand in _candidates(raw, scenario, overrides):
        try:
            sc = _scenario_for(raw, cand, str(path))
        except SimplanError as exc:
            results.append(
                Candidate(
                    str(cand["hardware.gpu"]),
                    str(cand["model.weights"]),
                    int(cand["hardware.tp"]),
                    str(cand["hardware.pricing"]),
                    False,
                    reason=str(exc.problems[0].message if exc.problems else exc.summary),
                )
            )
            continue
        c = _evaluate(sc, target)
        if c.feasible:
            # real capacity = predicted / (1 + error): the model's error spread as a band
            pess = _evaluate(sc, target, scale=1.0 / (1.0 + hi_err))
            opt = _evaluate(sc, target, scale=1.0 / (1.0 + lo_err))
            c.band = {
                "monthly_cost_usd": [opt.monthly_cost_usd, pess.monthly_cost_usd],
                "replicas": [opt.replicas, pess.replicas],
                "ttft_s": [opt.ttft_s, pess.ttft_s],
                "tpot_s": [opt.tpot_s, pess.tpot_s],
                "error_quantiles": [lo_err, hi_err],
            }
        results.append(c)
    # cheapest first; at equal cost, better quality (fewer weight bits lost), then more
    # headroom below the sustainable rate
    feasible = sorted(
        (c for c in results if c.feasible),
        key=lambda c: (
            round(c.monthly_cost_usd, 2),
            catalog.weights(c.weights).quality_loss_pct_range[1],
            c.utilization,
        ),
    )
    infeasible = [c for c in results if not c.feasible]
    i_len = mean_length(w.input_tokens, scenario)
    o_len = mean_length(w.output_tokens, scenario)
    monthly_requests = (
        float(w.rate_per_s)
        * (float(np.mean(w.diurnal)) if w.diurnal else 1.0)
        * HOURS_PER_MONTH
        * 3600.0
    )
    if w.monthly_tokens is not None:
        monthly_requests = float(w.monthly_tokens) / (i_len + o_len)
    monthly_tokens = monthly_requests * (i_len + o_len)
    best = feasible[0] if feasible else None
    apis = []
    for a in selected_apis(scenario):
        api_monthly = (
            monthly_requests * (i_len * a.usd_per_mtok_input + o_len * a.usd_per_mtok_output) / 1e6
        )
        entry: dict[str, Any] = {"id": a.id, "monthly_cost_usd": api_monthly}
        if best is not None:
            blended = (i_len * a.usd_per_mtok_input + o_len * a.usd_per_mtok_output) / (
                i_len + o_len
            )
            replica_tokens = (
                best.replica_rate_under_slo_per_s * (i_len + o_len) * HOURS_PER_MONTH * 3600.0
            )
            replica_monthly = best.replica_usd_per_hour * HOURS_PER_MONTH
            crossover = replica_monthly / blended * 1e6 if blended > 0 else math.inf
            entry["self_hosting_cheaper"] = best.monthly_cost_usd < api_monthly
            entry["crossover_tokens_per_month"] = crossover if crossover <= replica_tokens else None
            entry["hybrid"] = _hybrid(best, scenario, a, i_len, o_len)
        apis.append(entry)
    reasons = _reasons(best, feasible, infeasible, scenario) if best else []
    notes = [
        "latencies are the fast model's means compared against the SLO limits",
        f"bands: capacity divided by (1 + e) for the model's signed error e between "
        f"its 10th and 90th percentile over the calibration set ({lo_err:+.0%}, "
        f"{hi_err:+.0%})",
    ]
    if best is not None and best.pricing == "spot":
        notes.append(
            "the recommendation uses spot GPUs, which the provider can take back; "
            "the runners-up show the on-demand or reserved alternatives"
        )
    if w.diurnal:
        notes.append("the fleet is sized for the peak hour of the diurnal profile")
    return {
        "scenario": scenario.name,
        "target_rate_per_s": target,
        "monthly_tokens": monthly_tokens,
        "slo": {f"{m}_{s}_s": v for (m, s), v in scenario.slo.objectives().items()},
        "recommended": asdict(best) if best else None,
        "reasons": reasons,
        "elastic_options": _elastic_options(best, scenario) if best and w.diurnal else [],
        "runners_up": [asdict(c) for c in feasible[1:top]],
        "infeasible": [
            {
                "gpu": c.gpu,
                "weights": c.weights,
                "tp": c.tp,
                "pricing": c.pricing,
                "reason": c.reason,
            }
            for c in infeasible
        ],
        "apis": apis,
        "candidates_considered": len(results),
        "notes": notes,
    }
