"""The plan itself: screen every candidate, verify the cheapest by simulation, rank, and
compare with the APIs.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from simplan import catalog, latency_model, verify
from simplan import economics as econ
from simplan import slo as slo_eval
from simplan.calibration import BAND_COVERAGE, error_band
from simplan.errors import SimplanError
from simplan.feasibility import check_workload
from simplan.job import is_job
from simplan.metrics import plain_json
from simplan.plan.alternatives import _elastic_options, _hybrid, _reasons
from simplan.plan.bands import how_sure, latency_bands
from simplan.plan.candidates import (
    PLAN_KEYS,
    Candidate,
    _candidates,
    _check_overrides,
    _evaluate,
    _size,
    candidate_scenario,
)
from simplan.plan.disaggregated import colocated_raw, size_split, split_note
from simplan.plan.job import plan_job
from simplan.rate_limits import over_limit_note, rate_limit_use
from simplan.scenario import (
    Scenario,
    read_scenario_dict,
    scenario_from_dict,
)
from simplan.validated import answer_notes
from simplan.workload import mean_lengths, mean_rate_per_s, peak_rate_per_s


def plan(
    path: str | Path,
    *,
    gpus: list[str] | None = None,
    weights: list[str] | None = None,
    tp: list[int] | None = None,
    pricing: list[str] | None = None,
    top: int = 5,
    verify_candidates: int = 3,
    scheduler: str | None = None,
    workers: int | None = None,
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
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler to simulate each check's seeds
        on, in parallel.
    workers : int, optional
        Simulate each check's seeds in parallel on a local Dask cluster of this many
        processes. With neither, seeds run one after another; the plan is the same.
    """
    with verify.seeds_in_parallel(scheduler, workers):
        return _plan(path, gpus, weights, tp, pricing, top, verify_candidates)


def _plan(
    path: str | Path,
    gpus: list[str] | None,
    weights: list[str] | None,
    tp: list[int] | None,
    pricing: list[str] | None,
    top: int,
    verify_candidates: int,
) -> dict[str, Any]:
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
    split: tuple[dict[str, Any], Scenario] | None = None
    if scenario.hardware.disaggregated:
        if is_job(scenario):
            raise SimplanError(
                "plan sizes prefill/decode pools for an open-loop load, not a finite job: "
                "plan the job on a colocated fleet",
                source=str(path),
            )
        # the split is sized by simulation (simplan.plan.disaggregated); the search below
        # prices colocated fleets of the prefill pool's configuration against it
        split = (raw, scenario)
        raw = colocated_raw(raw)
        scenario = scenario_from_dict(raw, source=str(path))
    w = scenario.workload
    if is_job(scenario):
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
    lo_err, hi_err = error_band()
    # candidates differ in the replica (GPU, weights, TP, engine options) and pricing only:
    # one workload, one set of shapes
    workload = latency_model.shapes([scenario])
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
                    options={k: v for k, v in cand.items() if k not in PLAN_KEYS},
                )
            )
            continue
        # real capacity = predicted / (1 + error): the model's error spread as a band
        scales = (1.0, 1.0 / (1.0 + hi_err), 1.0 / (1.0 + lo_err))
        c, pess, opt = _evaluate(sc, scenario, target, monthly_tokens, scales, workload)
        if c.feasible:
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
        if best.band:
            best.band["latency_s"] = latency_bands(best, scenario)
    apis = []
    rate_notes = []
    for a in econ.selected_apis(scenario):
        api_monthly = float(econ.api_monthly_cost_usd(a, monthly_tokens, share))
        use = rate_limit_use(a, target, target * i_len, target * o_len)
        entry: dict[str, Any] = {"id": a.id, "monthly_cost_usd": api_monthly, "rate_limit": use}
        over = over_limit_note(a.id, use)
        if over:
            rate_notes.append(over)
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
            entry["hybrid"] = _hybrid(best, scenario, a, (i_len, o_len), monthly_tokens)
        apis.append(entry)
    reasons = _reasons(best, feasible, infeasible, scenario) if best else []
    disaggregated = None
    if split is not None:
        # the colocated pick's latency on the same GPUs estimates how long to warm up
        e2e_s = best.e2e_s if best is not None else math.inf
        disaggregated = size_split(split[0], split[1], str(path), target, monthly_tokens, e2e_s)
        rate_notes.append(split_note(disaggregated, best.monthly_cost_usd if best else None))
    notes = [
        *rate_notes,
        *([how_sure(best, hi_err)] if best is not None and best.band else []),
        verified_note,
        f"bands ({BAND_COVERAGE:.0%}): capacity divided by (1 + e) for the model's signed serving-"
        f"throughput error e between its 10th and 90th percentile over the published "
        f"measurements ({lo_err:+.0%}, {hi_err:+.0%}); each latency objective's band spans "
        f"its seeds and that metric's own error quantiles (calibration.toml [error_bands])",
    ]
    if best is not None:
        notes.extend(
            answer_notes([best.gpu], scenario.model.arch(), scenario.engine.preset, best.tp)
        )
    if best is not None and best.pricing == "spot":
        notes.append(
            "the recommendation uses spot GPUs, which the provider can take back; "
            "the runners-up show the on-demand or reserved alternatives"
        )
    if w.diurnal:
        notes.append("the fleet is sized for the busiest hour of the daily cycle")

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
                    "options": c.options,
                    "reason": c.reason,
                }
                for c in infeasible
            ],
            "apis": apis,
            "disaggregated": disaggregated,
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
            "screened with the fast model's predicted percentiles, whose held-out error is "
            "in docs/model.md; simulate the pick before acting on it"
        )
    done: dict[tuple[Any, ...], tuple[verify.Verification | None, list[Any]]] = {}
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
        "replicas that do; latencies in the table are the fast model's p95 predictions"
    )
