"""Finite jobs: a batch of requests (``arrival = "offline"``) with an optional deadline.

A job is not priced per month: its fleet is billed for the job's duration (its makespan,
in each pricing mode's billing increments, :func:`simplan.economics.job_fleet_cost_usd`),
and each API is priced for the job's tokens, at list prices and through its batch API
where the catalog lists a discount. :func:`job_summary` is the ``job`` block of a run's
summary; ``simplan plan`` sizes the fleet that finishes a job by its deadline
(:mod:`simplan.plan.job`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simplan import economics as econ

if TYPE_CHECKING:
    from simplan.scenario import Scenario
    from simplan.sim import SimResult

PRICING_MODES = ("on_demand", "spot", "reserved")


def is_job(scenario: Scenario) -> bool:
    """Whether a scenario states a finite job (every request there at t = 0)."""
    return scenario.workload.arrival == "offline"


def job_costs(
    scenario: Scenario,
    pools: Sequence[tuple[str, str, int]],
    makespan_s: float,
    input_tokens: float,
    output_tokens: float,
) -> dict[str, Any]:
    """Money of a job that ran ``makespan_s`` on ``pools`` = [(gpu, pricing, gpus)].

    Returns the fleet's cost in its own pricing modes and in each mode, the GPU-hours,
    $ per million tokens, and each API's cost for the same tokens (list and batch).
    """
    p = scenario.pricing
    inc, minimum = p.billing_increment_s, p.billing_minimum_s

    def fleet_cost(mode: str | None) -> float:
        return sum(
            float(
                econ.job_fleet_cost_usd(
                    econ.pool_usd_per_hour(scenario, gpu, mode or own, gpus),
                    makespan_s,
                    inc,
                    minimum,
                )
            )
            for gpu, own, gpus in pools
        )

    cost = fleet_cost(None)
    tokens = input_tokens + output_tokens
    apis: dict[str, Any] = {}
    for a in econ.selected_apis(scenario):
        apis[a.id] = {
            "list_usd": econ.api_job_cost_usd(a, input_tokens, output_tokens, batch=False),
            "batch_usd": econ.api_job_cost_usd(a, input_tokens, output_tokens, batch=True),
            "batch_discount": a.batch_discount,
            "batch_source": a.batch_source,
        }
    return {
        "makespan_s": makespan_s,
        "gpu_hours": sum(g for _, _, g in pools) * makespan_s / 3600.0,
        "fleet_cost_usd": cost,
        "fleet_cost_by_pricing_usd": {m: fleet_cost(m) for m in PRICING_MODES},
        "usd_per_mtok_total": cost / tokens * 1e6 if tokens > 0 else None,
        "billing": (
            f"{inc:g} s increments, {minimum:g} s minimum per instance"
            + (
                f" ({econ.BILLING_SOURCE})"
                if (inc, minimum) == (econ.BILLING_INCREMENT_S, econ.BILLING_MINIMUM_S)
                else " ([pricing] billing_increment_s / billing_minimum_s)"
            )
        ),
        "api": apis,
    }


def job_summary(res: SimResult) -> dict[str, Any]:
    """The ``job`` block of an offline run: its size, makespan, deadline and money."""
    sc = res.scenario
    r = res.requests
    input_tokens = float(r.column("input_tokens").sum())
    output_tokens = float(r.column("output_tokens").sum())
    pools = [(p.section.gpu, p.section.pricing, p.gpus) for p in res.pools]
    out = {
        "requests": int(r.n),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "deadline_s": sc.workload.deadline_s,
        "deadline_met": (
            None if sc.workload.deadline_s is None else bool(res.end_s <= sc.workload.deadline_s)
        ),
        **job_costs(sc, pools, float(res.end_s), input_tokens, output_tokens),
    }
    return out
