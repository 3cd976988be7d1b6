"""What `simplan plan` offers beside its pick: a hybrid of fleet and API, fleets that
follow the daily cycle, and the reasons for the pick.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from simplan import catalog
from simplan import economics as econ
from simplan.plan.candidates import Candidate
from simplan.rate_limits import rate_limit_use
from simplan.scenario import (
    Scenario,
)


def _hybrid(
    cand: Candidate,
    sc: Scenario,
    api: econ.ApiQuote,
    lengths: tuple[float, float],
    monthly_tokens: float,
) -> dict[str, Any]:
    """Cheapest split between a fleet of n replicas and the API for the overflow.

    Each hour of the day (the ``diurnal`` profile, else a flat day) the requests above
    the fleet's rate under the SLO go to the API; the API is paid for that share of the
    monthly volume, priced by :mod:`simplan.economics` like the API-only option. A split
    whose busiest hour sends the API more than its published rate limit allows
    (:mod:`simplan.rate_limits`) is not offered.
    """
    w = sc.workload
    rate = float(w.rate_per_s or 0.0)
    hourly = rate * (np.asarray(w.diurnal) if w.diurnal else np.ones(24))
    i_len, o_len = lengths  # the mean prompt and output of the scenario
    share = i_len / (i_len + o_len)
    best: dict[str, Any] | None = None
    for n in range(0, max(cand.replicas, 1) + 1):
        overflow = np.maximum(hourly - n * cand.replica_rate_under_slo_per_s, 0.0)
        peak = float(overflow.max())
        use = rate_limit_use(api, peak, peak * i_len, peak * o_len)
        if use is not None and not use["within"]:
            continue  # the API would refuse part of the busiest hour
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
                "api_rate_limit_use": None if use is None else use["use"],
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


def _options(c: Candidate) -> str:
    """A candidate's engine options as ", key=value" (empty when plan tried none)."""
    return "".join(f", {k.rsplit('.', 1)[-1]}={v}" for k, v in c.options.items())


def _reasons(
    best: Candidate, feasible: list[Candidate], infeasible: list[Candidate], scenario: Scenario
) -> list[str]:
    """Why the recommendation: what it costs against the alternatives, what limits it."""
    out = [
        f"{best.replicas} x {best.gpu} (tp={best.tp}, {best.weights} weights, {best.pricing}"
        f"{_options(best)}) "
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
            f"the runner-up, {nxt.replicas} x {nxt.gpu} (tp={nxt.tp}, {nxt.weights}"
            f"{_options(nxt)}), "
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
