"""How sure a plan is: 80% bands on its latency objectives and the sentence that says
what would change the answer.

The capacity band (replicas and cost) is computed by the screen itself (:mod:`pick`):
capacity divided by ``1 + e`` for the serving-throughput error quantiles. The latency
band of an objective combines the two things that move it:

* seed to seed: the range of the objective's value over the verification seeds (or the
  fast model's single prediction when the pick was not simulated);
* the model against the hardware: the signed error of that metric family in serving
  (``calibration.error_band("ttft", "serving")``, from ``simplan validate``'s rows),
  a real value being ``predicted / (1 + e)``;
* for a pick the simulation did not check, the fast model against the simulation too
  (``latency_model.fast_band``, from ``tools/fit_tail.py``'s design), compounded.

The band is ``[lowest seed / (1 + e_90), highest seed / (1 + e_10)]``.
"""

from __future__ import annotations

import math
from typing import Any

from simplan import economics as econ
from simplan import verify
from simplan.calibration import error_band
from simplan.formatting import seconds
from simplan.latency_model import fast_band
from simplan.plan.candidates import Candidate
from simplan.scenario import Scenario
from simplan.slo import objectives


def _seed_values(best: Candidate, key: str) -> list[float]:
    """The objective's value in each seed of the verification the pick was sized by."""
    held = [v for v in best.verification if v["holds"] and v["replicas"] == best.replicas]
    if not held:
        return []
    return [float(x) for x in held[-1]["achieved"].get(key, []) if x is not None]


def latency_bands(best: Candidate, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """The 80% band of each latency objective of the pick (see the module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for obj in objectives(scenario.slo):
        seeds = _seed_values(best, obj.key) if best.verified else []
        if not seeds:
            fast = getattr(best, f"{obj.metric}_{obj.stat}_s", None)
            if fast is None and obj.stat == "mean":
                fast = getattr(best, f"{obj.metric}_s", None)
            if fast is None or not math.isfinite(float(fast)):
                continue
            seeds = [float(fast)]
        lo_err, hi_err = error_band(obj.metric, "serving")
        if not best.verified:  # the fast model's own error against the simulation
            f_lo, f_hi = fast_band(obj.metric)
            lo_err, hi_err = (1 + lo_err) * (1 + f_lo) - 1, (1 + hi_err) * (1 + f_hi) - 1
        out[obj.key] = {
            "limit_s": obj.limit_s,
            "seeds_s": [min(seeds), max(seeds)],
            "band_s": [min(seeds) / (1.0 + hi_err), max(seeds) / (1.0 + lo_err)],
            "error_quantiles": [lo_err, hi_err],
            "simulated": best.verified,
        }
    return out


def how_sure(best: Candidate, hi_err: float) -> str:
    """One sentence: how sure the pick is, and what would change it."""
    held = (
        f"the pick held its SLO in simulation with {verify.VERIFY_SEEDS} seeds"
        if best.verified
        else "the pick was not checked by simulation"
    )
    more = best.band["replicas"][1] - best.fast_replicas
    if more > 0:
        cost = float(econ.monthly_cost_usd((best.replicas + more) * best.replica_usd_per_hour))
        change = (
            f"if the GPUs are {hi_err:.0%} slower than modelled (the 90th percentile of the "
            f"model's error against published measurements), {best.replicas + more} "
            f"replicas are needed (about ${cost:,.0f}/month)"
        )
    else:
        change = (
            f"the fast model sizes the same fleet if the GPUs are {hi_err:.0%} slower than "
            f"modelled (the 90th percentile of its error against published measurements)"
        )
    at_risk = [
        (key, b)
        for key, b in best.band.get("latency_s", {}).items()
        if b["band_s"][1] > b["limit_s"]
    ]
    if at_risk:
        key, b = max(at_risk, key=lambda kb: kb[1]["band_s"][1] / kb[1]["limit_s"])
        slower = 1.0 / (1.0 + b["error_quantiles"][0]) - 1.0
        change += (
            f"; and {key.split('_')[0].upper()} is where the latency SLO is least sure: "
            f"{slower:.0%} slower than modelled (its 10th-percentile error in serving) puts "
            f"{key.removesuffix('_s').replace('_', ' ')} at {seconds(b['band_s'][1])} "
            f"against the {seconds(b['limit_s'])} limit"
        )
    return f"how sure: {held}; {change}"
