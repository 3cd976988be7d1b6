"""`simplan plan`: the cheapest fleet that meets the SLO at the target load.

Candidates are every combination of GPU type, weight scheme, TP degree and pricing mode
(from the command line, or the scenario's ``[sweep]`` axes of those keys, or the
scenario's own choice). The target load is the busiest hour's request rate
(:func:`simplan.workload.peak_rate_per_s`).

1. *Screen* with the compiled steady-state model: the largest rate one replica sustains
   with its predicted mean latencies within the limits the objectives imply
   (:func:`simplan.slo.fast_limits`) gives a first fleet size ``ceil(target / rate)``.
2. *Verify* by simulation (:mod:`simplan.verify`): the cheapest candidates, in the screen's
   order, are simulated at the target rate with three seeds, and their replica count is
   moved to the smallest that meets every objective (percentiles as percentiles) with
   every seed. The recommendation is the cheapest verified fleet; ``verify=0`` skips this
   and says the ranking is unverified.

Money comes from :mod:`simplan.economics`: GPU prices (an override prices only the pool it
is stated for), monthly cost, the monthly volume, each API's cost of the same volume, the
crossover volume above which a fleet of the recommended configuration is cheaper than an
API, and a hybrid: a fleet sized for part of the load with the overflow sent to the API,
at the replica count that minimises the total.

Uncertainty: the model's signed error against the published measurements has a 10th
and 90th percentile (``calibration.toml``: ``error_p10``, ``error_p90``); the plan
recomputes the screen with capacities shifted by that spread, giving a band on replicas
and cost (throughput error only).
"""

from __future__ import annotations

import itertools
import math
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from simplan import catalog, verify
from simplan import economics as econ
from simplan import slo as slo_eval
from simplan.errors import SimplanError
from simplan.feasibility import check_workload
from simplan.job import is_job, plan_job
from simplan.perf import calibration, replica_cfg
from simplan.scenario import (
    MAX_REPLICAS,
    Pricing,
    Scenario,
    read_scenario_dict,
    scenario_from_dict,
    trial_scenario,
)
from simplan.workload import mean_lengths, mean_rate_per_s, peak_rate_per_s

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
    fits_memory: bool = True  # False: the weights (and a minimal KV cache) do not fit
    replicas: int = 0
    gpus: int = 0
    replica_usd_per_hour: float = math.nan
    price_source: str = ""
    replica_max_rate_per_s: float = math.nan
    replica_rate_under_slo_per_s: float = math.nan
    monthly_cost_usd: float = math.nan
    usd_per_mtok_total: float = math.nan
    ttft_s: float = math.nan
    tpot_s: float = math.nan
    e2e_s: float = math.nan
    utilization: float = math.nan
    pp: int = 1
    fast_replicas: int = 0
    verified: bool = False
    verification: list[dict[str, Any]] = field(default_factory=list)
    band: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> tuple[str, str, int]:
        return (self.gpu, self.weights, self.tp)

    def overrides(self) -> dict[str, Any]:
        return {
            "hardware.gpu": self.gpu,
            "model.weights": self.weights,
            "hardware.tp": self.tp,
            "hardware.pricing": self.pricing,
        }


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


def candidate_scenario(raw: dict[str, Any], cand: dict[str, Any], source: str) -> Scenario:
    """One replica of a candidate (its dotted-key choices) on the scenario as written."""
    return trial_scenario(raw, {**cand, "hardware.replicas": 1, "hardware.pools": None}, source)


def _evaluate(
    sc: Scenario, base: Scenario, target_rate: float, monthly_tokens: float, scale: float = 1.0
) -> Candidate:
    """Screen a candidate with the fast model; ``scale`` multiplies capacities.

    ``base`` is the scenario as written: its price overrides apply only to its own pools.
    """
    from simplan.kernels.grid import capacity_many, operating_point_many

    hw = sc.hardware
    cand = Candidate(hw.gpu, sc.model.weights, hw.tp, hw.pricing, feasible=False, pp=hw.pp)
    cfg, why = replica_cfg(sc)
    if why == 1:
        cand.reason = "does not fit in GPU memory"
        cand.fits_memory = False
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
    i_len, o_len = mean_lengths(sc)
    ttft_lim, tpot_lim, e2e_lim = slo_eval.fast_limits(slo_eval.objectives(sc.slo))
    cap = capacity_many(
        cfg[None, :],
        np.array([i_len]),
        np.array([o_len]),
        np.array([ttft_lim * scale]),
        np.array([tpot_lim * scale]),
        np.array([e2e_lim * scale]),
    )
    r_max, r_slo = float(cap[0, 1]) * scale, float(cap[0, 2]) * scale
    price = econ.gpu_price(base, hw.gpu, hw.pricing)
    cand.replica_usd_per_hour = price.usd_per_gpu_hour * hw.tp * hw.pp
    cand.price_source = price.source
    cand.replica_max_rate_per_s = r_max
    cand.replica_rate_under_slo_per_s = r_slo
    if r_slo <= 0:
        cand.reason = "cannot meet the SLO at any load"
        return cand
    needed = max(1, math.ceil(target_rate / r_slo * (1 - 1e-12)))
    if needed > MAX_REPLICAS:
        cand.reason = (
            f"needs about {needed:,} replicas for {target_rate:,.4g} requests/s, more than the "
            f"{MAX_REPLICAS:,} a fleet may have"
        )
        return cand
    cand.feasible = True
    _size(cand, needed, target_rate, monthly_tokens)
    cand.fast_replicas = cand.replicas
    op = operating_point_many(
        cfg[None, :],
        np.array([target_rate / cand.replicas / scale]),
        np.array([i_len]),
        np.array([o_len]),
        np.array([r_max / scale]),
    )
    cand.ttft_s = float(op[0, 3]) / scale
    cand.tpot_s = float(op[0, 4]) / scale
    cand.e2e_s = float(op[0, 5]) / scale
    return cand


def _size(cand: Candidate, replicas: int, target_rate: float, monthly_tokens: float) -> None:
    """Set a candidate's fleet size and everything priced from it."""
    cand.replicas = replicas
    cand.gpus = replicas * cand.tp * cand.pp
    cand.monthly_cost_usd = float(econ.monthly_cost_usd(replicas * cand.replica_usd_per_hour))
    cand.usd_per_mtok_total = float(econ.usd_per_mtok(cand.monthly_cost_usd, monthly_tokens))
    cand.utilization = target_rate / replicas / cand.replica_max_rate_per_s


def _hybrid(
    cand: Candidate, sc: Scenario, api: econ.ApiQuote, share: float, monthly_tokens: float
) -> dict[str, Any]:
    """Cheapest split between a fleet of n replicas and the API for the overflow.

    Each hour of the day (the ``diurnal`` profile, else a flat day) the requests above
    the fleet's rate under the SLO go to the API; the API is paid for that share of the
    monthly volume, priced by :mod:`simplan.economics` like the API-only option.
    """
    w = sc.workload
    rate = float(w.rate_per_s or 0.0)
    hourly = rate * (np.asarray(w.diurnal) if w.diurnal else np.ones(24))
    best: dict[str, Any] | None = None
    for n in range(0, max(cand.replicas, 1) + 1):
        overflow = np.maximum(hourly - n * cand.replica_rate_under_slo_per_s, 0.0)
        api_share = float(overflow.sum() / hourly.sum()) if hourly.sum() > 0 else 0.0
        fleet = float(econ.monthly_cost_usd(n * cand.replica_usd_per_hour))
        api_cost = float(econ.api_monthly_cost_usd(api, api_share * monthly_tokens, share))
        total = fleet + api_cost
        if best is None or total < best["total_monthly_usd"] - 1e-9:
            best = {
                "replicas": n,
                "fleet_monthly_usd": fleet,
                "api_monthly_usd": api_cost,
                "total_monthly_usd": total,
                "api_share_of_requests": api_share,
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
    gpus = best.tp * best.pp
    days = econ.HOURS_PER_MONTH / 24.0
    od = econ.pool_usd_per_hour(scenario, best.gpu, "on_demand", gpus)
    reserved = econ.pool_usd_per_hour(scenario, best.gpu, "reserved", gpus)
    base = int(need.min())
    options = [
        {
            "option": f"fixed: {best.replicas} x {best.pricing} for the peak",
            "monthly_cost_usd": best.monthly_cost_usd,
            "replica_hours_per_day": best.replicas * 24,
        },
        {
            "option": "autoscaled on-demand, following the hourly load",
            "monthly_cost_usd": float(need.sum()) * od * days,
            "replica_hours_per_day": int(need.sum()),
        },
        {
            "option": f"{base} reserved for the base + on-demand above it",
            "monthly_cost_usd": float(econ.monthly_cost_usd(base * reserved))
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
        f"meets the SLO at the target load for ${best.monthly_cost_usd:,.0f}/month"
        + (" (checked by simulation)" if best.verified else " (not checked by simulation)")
        + f", the least of {len(feasible)} feasible candidates"
    ]
    if len(feasible) > 1:
        nxt = feasible[1]
        diff = nxt.monthly_cost_usd / best.monthly_cost_usd - 1
        cost = (
            f"costs {diff:+.0%}"
            if abs(diff) >= 0.005
            else ("costs the same but ranks lower on quality loss or headroom")
        )
        checked = "" if nxt.verified or not best.verified else " (not checked by simulation)"
        out.append(
            f"the runner-up, {nxt.replicas} x {nxt.gpu} (tp={nxt.tp}, {nxt.weights}), "
            f"{cost}{checked}"
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
    fits = [c for c in infeasible if not c.fits_memory]
    if fits:
        out.append(
            f"{len(fits)} candidates do not fit in GPU memory and "
            f"{len(infeasible) - len(fits)} cannot meet the SLO or are invalid"
        )
    return out


def _check_overrides(overrides: dict[str, list[Any]]) -> None:
    """Refuse candidate values no fleet could have (unknown ids), before any work.

    A value valid in general but impossible for this model (tp = 3 on 64 heads) stays a
    candidate and is listed as not possible, with its reason.
    """
    from simplan.errors import CatalogError, Problem

    problems = []
    for short in ("gpu", "weights"):
        for value in overrides[short]:
            try:
                catalog.get(short, str(value))
            except CatalogError as exc:
                problems.append(Problem(f"--{short}", exc.summary, value, has_value=True))
    modes = typing.get_args(Pricing)
    for value in overrides["pricing"]:
        if value not in modes:
            allowed = ", ".join(modes)
            problems.append(
                Problem("--pricing", f"unknown pricing mode (allowed: {allowed})", value, True)
            )
    for value in overrides["tp"]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(Problem("--tp", "must be a whole number >= 1", value, True))
    if problems:
        raise SimplanError("invalid plan candidates", problems)


def plan(
    path: str | Path,
    *,
    gpus: list[str] | None = None,
    weights: list[str] | None = None,
    tp: list[int] | None = None,
    pricing: list[str] | None = None,
    top: int = 5,
    verify_candidates: int = 3,
) -> dict[str, Any]:
    """Rank candidate fleets for a scenario's workload and SLO (see the module docstring).

    Parameters
    ----------
    path : str or Path
        Scenario TOML file (needs ``workload.rate_per_s``).
    gpus, weights, tp, pricing : list, optional
        Candidate values (default: the scenario's ``[sweep]`` axes, else a standard set).
    top : int
        How many runners-up to return.
    verify_candidates : int
        How many configurations to check by simulation (0: rank by the fast model only).
    """
    overrides: dict[str, list[Any]] = {
        "gpu": gpus or [],
        "weights": weights or [],
        "tp": tp or [],
        "pricing": pricing or [],
    }
    _check_overrides(overrides)
    raw = read_scenario_dict(path)
    scenario = scenario_from_dict(raw, source=str(path))
    check_workload(scenario)  # no fleet can serve requests longer than the context
    w = scenario.workload
    if is_job(scenario):
        from simplan.metrics import plain_json

        return plain_json(
            plan_job(
                raw,
                scenario,
                str(path),
                _candidates(raw, scenario, overrides),
                top=top,
                verify_candidates=verify_candidates,
            )
        )
    if w.rate_per_s is None:
        raise SimplanError(
            "`simplan plan` needs workload.rate_per_s (the target load)", source=str(path)
        )
    target = peak_rate_per_s(w)
    i_len, o_len = mean_lengths(scenario)
    share = i_len / (i_len + o_len)
    monthly_tokens = float(
        econ.monthly_volume_tokens(w.monthly_tokens, mean_rate_per_s(w) * (i_len + o_len))
    )
    cal = calibration()
    lo_err, hi_err = float(cal.get("error_p10", 0.0)), float(cal.get("error_p90", 0.0))
    results: list[Candidate] = []
    for cand in _candidates(raw, scenario, overrides):
        try:
            sc = candidate_scenario(raw, cand, str(path))
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
        c = _evaluate(sc, scenario, target, monthly_tokens)
        if c.feasible:
            # real capacity = predicted / (1 + error): the model's error spread as a band
            pess = _evaluate(sc, scenario, target, monthly_tokens, scale=1.0 / (1.0 + hi_err))
            opt = _evaluate(sc, scenario, target, monthly_tokens, scale=1.0 / (1.0 + lo_err))
            c.band = {
                "monthly_cost_usd": [opt.monthly_cost_usd, pess.monthly_cost_usd],
                "replicas": [opt.replicas, pess.replicas],
                "error_quantiles": [lo_err, hi_err],
            }
        results.append(c)
    feasible = _rank([c for c in results if c.feasible])
    verified_note = _verify(
        feasible, raw, scenario, str(path), target, monthly_tokens, verify_candidates
    )
    feasible = _rank([c for c in feasible if c.feasible])
    infeasible = [c for c in results if not c.feasible]
    # the recommendation is the cheapest fleet that held in simulation (when checked);
    # runners-up stay in cost order, each marked verified or not
    checked = [c for c in feasible if c.verified or verify_candidates <= 0]
    best = checked[0] if checked else None
    if best is not None:
        feasible = [best, *(c for c in feasible if c is not best)]
    apis = []
    for a in econ.selected_apis(scenario):
        api_monthly = float(econ.api_monthly_cost_usd(a, monthly_tokens, share))
        entry: dict[str, Any] = {"id": a.id, "monthly_cost_usd": api_monthly}
        if best is not None:
            replica_capacity = (
                best.replica_rate_under_slo_per_s * (i_len + o_len) * econ.SECONDS_PER_MONTH
            )
            crossover = float(
                econ.crossover_tokens_per_month(
                    econ.monthly_cost_usd(best.replica_usd_per_hour), replica_capacity, a, share
                )
            )
            breakeven = float(econ.breakeven_tokens_per_month(best.monthly_cost_usd, a, share))
            entry["self_hosting_cheaper"] = best.monthly_cost_usd < api_monthly
            entry["crossover_tokens_per_month"] = crossover if math.isfinite(crossover) else None
            entry["breakeven_tokens_per_month"] = breakeven if math.isfinite(breakeven) else None
            entry["hybrid"] = _hybrid(best, scenario, a, share, monthly_tokens)
        apis.append(entry)
    reasons = _reasons(best, feasible, infeasible, scenario) if best else []
    notes = [
        verified_note,
        f"bands: capacity divided by (1 + e) for the model's signed error e between "
        f"its 10th and 90th percentile over the calibration set ({lo_err:+.0%}, "
        f"{hi_err:+.0%}); throughput error only",
    ]
    if best is not None and best.pricing == "spot":
        notes.append(
            "the recommendation uses spot GPUs, which the provider can take back; "
            "the runners-up show the on-demand or reserved alternatives"
        )
    if w.diurnal:
        notes.append("the fleet is sized for the busiest hour of the daily cycle")
    from simplan.metrics import plain_json

    return plain_json(
        {
            "scenario": scenario.name,
            "target_rate_per_s": target,
            "monthly_tokens": monthly_tokens,
            "slo": {o.key: o.limit_s for o in slo_eval.objectives(scenario.slo)},
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
    )


def _rank(cands: list[Candidate]) -> list[Candidate]:
    """Cheapest first; at equal cost, better quality (fewer weight bits lost), then more
    headroom."""
    return sorted(
        cands,
        key=lambda c: (
            round(c.monthly_cost_usd, 2),
            catalog.weights(c.weights).quality_loss_pct_range[1],
            c.utilization,
        ),
    )


def _verify(
    ranked: list[Candidate],
    raw: dict[str, Any],
    scenario: Scenario,
    source: str,
    target: float,
    monthly_tokens: float,
    limit: int,
) -> str:
    """Check the cheapest configurations by simulation and resize them to the fewest
    replicas that hold the SLO with every seed; returns a note on what was done.

    Configurations are taken in the screen's order until ``limit`` have been checked or
    the next one's screened cost exceeds the cheapest verified fleet. Pricing modes of one
    configuration share its verification.
    """
    if not ranked:
        return "nothing to check by simulation: no candidate passed the fast screen"
    if limit <= 0:
        return (
            "not checked by simulation (verify_candidates = 0): percentile objectives were "
            "screened with the fast model's means, which cannot show that they hold"
        )
    done: dict[tuple[str, str, int], tuple[verify.Verification | None, list[Any]]] = {}
    best_cost = math.inf
    for cand in ranked:
        key = cand.config
        if key not in done:
            held = [v[0] is not None for v in done.values()]
            if not verify.worth_checking(held, limit, cand.monthly_cost_usd, best_cost):
                continue
            warmup = verify.warmup_for(cand.e2e_s, scenario.simulation.warmup_s)
            done[key] = verify.fewest_replicas(
                raw,
                {k: v for k, v in cand.overrides().items() if k != "hardware.pricing"},
                cand.fast_replicas,
                target,
                source=source,
                warmup_s=warmup,
                seed=scenario.simulation.seed,
            )
        holds, tried = done[key]
        cand.verification = [verify.describe(v) for v in tried]
        if holds is None:
            cand.feasible = False
            cand.reason = f"misses the SLO in simulation even with {tried[-1].replicas} replicas"
            continue
        cand.verified = True
        n = holds.replicas
        _size(cand, n, target, monthly_tokens)
        # what one replica serves within the SLO: the fast estimate, kept inside what the
        # simulation showed (n replicas hold the target, n - 1 do not)
        upper = target / (n - 1) if n > 1 and any(not v.holds for v in tried) else math.inf
        cand.replica_rate_under_slo_per_s = min(
            max(cand.replica_rate_under_slo_per_s, target / n), upper
        )
        best_cost = min(best_cost, cand.monthly_cost_usd)
    return (
        f"checked by simulation: {len(done)} configuration(s), each at the target rate with "
        f"{verify.VERIFY_SEEDS} seeds ({verify.WINDOW_REQUESTS:,} measured requests each); a "
        "fleet holds when every objective is met with every seed, and is the fewest "
        "replicas that do; latencies shown are the fast model's means"
    )
