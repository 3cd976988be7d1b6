"""``simplan plan`` for a finite job (:mod:`simplan.job`): the cheapest fleet that
finishes it by its deadline, sized by the fast model and checked by simulation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from simplan import economics as econ
from simplan import verify
from simplan.errors import SimplanError
from simplan.fit import replica_cfg
from simplan.job import job_costs
from simplan.kernels.grid import max_rate
from simplan.plan.candidates import candidate_scenario
from simplan.workload import mean_lengths

if TYPE_CHECKING:
    from simplan.scenario import Scenario


def plan_job(
    raw: dict[str, Any],
    scenario: Scenario,
    source: str,
    candidates: list[dict[str, Any]],
    *,
    top: int,
    verify_candidates: int,
) -> dict[str, Any]:
    """The cheapest fleet that finishes a finite job by its deadline.

    Each candidate's replicas sustain the fast model's largest request rate; a fleet of
    ``ceil(requests / (rate x deadline))`` replicas is the first guess, priced for the
    job's estimated duration. The cheapest configurations are then simulated with three
    seeds and resized to the fewest replicas that finish by the deadline with every seed;
    their cost is for the longest simulated makespan.
    """
    w = scenario.workload
    if w.deadline_s is None:
        raise SimplanError(
            "`simplan plan` of a finite job (arrival = 'offline') needs workload.deadline_s",
            source=source,
        )
    deadline = float(w.deadline_s)
    n_req = int(w.num_requests or 0)
    i_len, o_len = mean_lengths(scenario)
    tokens_in, tokens_out = n_req * i_len, n_req * o_len
    rows: list[dict[str, Any]] = []
    infeasible: list[dict[str, Any]] = []
    for cand in candidates:
        keys = {"gpu": "hardware.gpu", "weights": "model.weights", "tp": "hardware.tp"}
        label = {short: cand[long] for short, long in keys.items()}
        label["pricing"] = cand["hardware.pricing"]
        sc = candidate_scenario(raw, cand, source)
        cfg, why = replica_cfg(sc)
        rate = max_rate(cfg, i_len, o_len) if why == 0 else 0.0
        if rate <= 0:
            reason = "does not fit in GPU memory" if why == 1 else "invalid parallelism"
            infeasible.append({**label, "reason": reason})
            continue
        replicas = max(1, math.ceil(n_req / (rate * deadline) - 1e-9))
        rows.append(
            {
                **label,
                "pp": sc.hardware.pp,
                "replicas": replicas,
                "fast_replicas": replicas,
                "replica_rate_per_s": rate,
                "makespan_s": n_req / (replicas * rate),
                "verified": False,
                "verification": [],
            }
        )

    def price(row: dict[str, Any]) -> None:
        gpus = row["replicas"] * row["tp"] * row["pp"]
        money = job_costs(
            scenario, [(row["gpu"], row["pricing"], gpus)], row["makespan_s"], tokens_in, tokens_out
        )
        row["gpus"] = gpus
        row["job_cost_usd"] = money["fleet_cost_usd"]
        row["usd_per_mtok_total"] = money["usd_per_mtok_total"]

    for row in rows:
        price(row)
    rows.sort(key=lambda r: r["job_cost_usd"])
    checked: dict[tuple[str, str, int], tuple[int, float] | None] = {}
    best_cost = math.inf
    for row in rows:
        key = (row["gpu"], row["weights"], row["tp"])
        if key not in checked:
            held = [v is not None for v in checked.values()]
            if not verify.worth_checking(held, verify_candidates, row["job_cost_usd"], best_cost):
                continue
            overrides = {
                "hardware.gpu": row["gpu"],
                "model.weights": row["weights"],
                "hardware.tp": row["tp"],
            }
            spans_at: dict[int, list[float]] = {}

            def finishes(
                n: int,
                overrides: dict[str, Any] = overrides,
                spans_at: dict[int, list[float]] = spans_at,
                row: dict[str, Any] = row,
            ) -> bool:
                holds, spans = verify.job_makespans(
                    raw,
                    overrides,
                    n,
                    source=source,
                    seed=scenario.simulation.seed,
                    deadline_s=deadline,
                )
                spans_at[n] = spans
                row["verification"].append({"replicas": n, "holds": holds, "makespans_s": spans})
                return holds

            n_ok = verify.fewest(finishes, row["replicas"])
            found = None if n_ok is None else (n_ok, max(spans_at[n_ok]))
            checked[key] = found
        result = checked[key]
        if result is None:
            row["feasible"] = False
            continue
        row["replicas"], row["makespan_s"] = result
        row["verified"] = True
        price(row)
        best_cost = min(best_cost, row["job_cost_usd"])
    rows = [r for r in rows if r.get("feasible", True)]
    rows.sort(key=lambda r: r["job_cost_usd"])
    verified = [r for r in rows if r["verified"] or verify_candidates <= 0]
    best = verified[0] if verified else None
    others = [r for r in rows if r is not best]
    apis = [
        {
            "id": a.id,
            "list_usd": econ.api_job_cost_usd(a, tokens_in, tokens_out, batch=False),
            "batch_usd": econ.api_job_cost_usd(a, tokens_in, tokens_out, batch=True),
            "batch_source": a.batch_source,
        }
        for a in econ.selected_apis(scenario)
    ]
    return {
        "scenario": scenario.name,
        "job": {
            "requests": n_req,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "deadline_s": deadline,
        },
        "recommended": best,
        "runners_up": others[: max(top - 1, 0)],
        "infeasible": infeasible,
        "apis": apis,
        "candidates_considered": len(candidates),
        "notes": [
            "a finite job: each fleet is billed for the job's duration "
            f"({scenario.pricing.billing_increment_s:g} s increments, "
            f"{scenario.pricing.billing_minimum_s:g} s minimum), each API for its tokens",
            (
                f"checked by simulation: the fewest replicas finishing by the deadline with "
                f"{verify.VERIFY_SEEDS} seeds; the cost is for the longest simulated makespan"
            )
            if verify_candidates > 0
            else "not checked by simulation (verify_candidates = 0)",
        ],
    }
