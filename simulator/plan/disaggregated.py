"""`plan` for a fleet of prefill and decode pools: how many of each, checked by simulation.

A scenario whose ``[hardware]`` is split into a prefill pool and a decode pool asks two
questions: how many replicas each side needs at the target load, and whether the split
beats a colocated fleet of the same GPUs. ``plan`` answers the second with its usual
search over colocated fleets of the ``[hardware]`` configuration (:func:`colocated_raw`),
and the first here:

1. each side is pre-sized by the fast model of the split (:mod:`simplan.split_model`):
   the fewest prefill and decode replicas whose predicted statistics meet every
   objective (falling back to what one replica of each side sustains, when the fast
   model finds none);
2. the split is simulated at the target rate with every verification seed; a missed
   time-to-first-token objective adds a prefill replica, a missed time-per-token
   objective a decode replica, any other miss (end to end, a saturated queue) a replica
   to the busier side, until it holds;
3. each side is then shrunk while the split still holds.

The simulation decides; the answer is the fewest replicas per side that held with every
seed, and the fast model's own pick and predictions are reported beside it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from simplan import economics as econ
from simplan import latency_model, verify
from simplan import slo as slo_eval
from simplan.formatting import seconds, usd
from simplan.pools import max_rate_per_replica
from simplan.scenario import Scenario
from simplan.split_model import SplitModel, split_pools
from simplan.workload import mean_lengths

#: Simulated splits at most (growing, then shrinking) before giving up.
MAX_CHECKS = 12


def colocated_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """The scenario with its prefill pool's configuration serving both phases, no pools."""
    out = copy.deepcopy(raw)
    hw = out.get("hardware", {})
    pools = hw.pop("pools", None) or []
    if hw.get("role") == "decode" and pools:  # the prefill pool is the [[hardware.pools]] one
        hw.update({k: v for k, v in pools[0].items() if k != "role"})
    for key in ("role", "kv_transfer_gb_per_s"):
        hw.pop(key, None)
    return out


def size_split(
    raw: dict[str, Any],
    scenario: Scenario,
    source: str,
    target_rate_per_s: float,
    monthly_tokens: float,
    e2e_s: float = math.inf,
) -> dict[str, Any]:
    """The fewest prefill and decode replicas that hold the SLO at ``target_rate_per_s``;
    ``e2e_s`` (a request's latency, roughly) sets the verification's warm-up.

    Returns
    -------
    dict
        ``prefill`` and ``decode`` (gpu, tp, weights, pricing, replicas), ``holds``,
        ``monthly_cost_usd``, ``usd_per_mtok_total`` (None when nothing held),
        ``achieved`` (each objective's value per seed of the held split), ``fast`` (the
        fast model's pick and its predictions, where the simulation started), ``tried``
        (every split simulated) and ``reason`` when none held.
    """
    p, d = split_pools(scenario, source)
    i_len, o_len = mean_lengths(scenario)
    rates = [max_rate_per_replica(x, i_len, o_len) for x in (p, d)]
    start = [max(1, math.ceil(target_rate_per_s / r - 1e-9)) if r > 0 else 1 for r in rates]
    model = SplitModel.of(scenario, source)
    fast_pick = model.fewest(target_rate_per_s, scenario)
    if fast_pick is not None:
        start = list(fast_pick)
    # [hardware] is pool 0 and its first [[hardware.pools]] pool 1, whichever is prefill
    pool_section = raw["hardware"]["pools"][0]
    hardware_is_prefill = p.index == 0
    warmup = verify.warmup_for(e2e_s, scenario.simulation.warmup_s)
    tried: dict[tuple[int, int], verify.Verification] = {}

    def check(n_prefill: int, n_decode: int) -> verify.Verification:
        key = (n_prefill, n_decode)
        if key not in tried:
            at_hardware, in_pool = key if hardware_is_prefill else key[::-1]
            tried[key] = verify.simulate_fleet(
                raw,
                {},
                at_hardware,
                target_rate_per_s,
                source=source,
                warmup_s=warmup,
                seed=scenario.simulation.seed,
                # the other pool stays, resized: the fixed fleet would drop it
                fleet={"hardware.pools": [{**pool_section, "replicas": in_pool}]},
            )
        return tried[key]

    n = list(start)
    while len(tried) < MAX_CHECKS and not check(*n).holds:
        missed = check(*n).missed
        if "fit" in missed:
            break  # no replica count helps: the simulation refused the fleet
        grow_prefill = any(k.startswith("ttft") for k in missed)
        grow_decode = any(k.startswith("tpot") for k in missed)
        if not (grow_prefill or grow_decode):  # end to end or a saturated queue
            n[0 if n[0] * rates[0] <= n[1] * rates[1] else 1] += 1
        n[0] += int(grow_prefill)
        n[1] += int(grow_decode)
    last = list(tried)[-1]
    held = tried[last].holds
    n = list(last)
    if held:
        for k in (0, 1):
            while n[k] > 1 and len(tried) < MAX_CHECKS:
                fewer = list(n)
                fewer[k] -= 1
                if not check(*fewer).holds:
                    break
                n = fewer
    usd_per_hour = n[0] * econ.pool_usd_per_hour(
        scenario, p.section.gpu, p.section.pricing, p.replica.num_gpus
    ) + n[1] * econ.pool_usd_per_hour(
        scenario, d.section.gpu, d.section.pricing, d.replica.num_gpus
    )
    monthly = float(econ.monthly_cost_usd(usd_per_hour))

    def side(pool: Any, replicas: int) -> dict[str, Any]:
        s = pool.section
        return {
            "gpu": s.gpu,
            "tp": s.tp,
            "weights": scenario.model.weights,
            "pricing": s.pricing,
            "replicas": replicas,
        }

    out: dict[str, Any] = {
        "prefill": side(p, n[0]),
        "decode": side(d, n[1]),
        "holds": held,
        "monthly_cost_usd": monthly if held else None,
        "usd_per_mtok_total": float(econ.usd_per_mtok(monthly, monthly_tokens)) if held else None,
        "achieved": tried[(n[0], n[1])].achieved if held else {},
        "fast": fast_prediction(model, scenario, target_rate_per_s, fast_pick),
        "tried": [
            {"prefill_replicas": a, "decode_replicas": b, "holds": v.holds}
            for (a, b), v in tried.items()
        ],
    }
    if not held:
        why = "the fleet cannot run" if "fit" in tried[last].missed else "no split held the SLO"
        out["reason"] = (
            f"{why} in simulation within {len(tried)} tries "
            f"(last: {n[0]} prefill + {n[1]} decode replicas)"
        )
    return out


def fast_prediction(
    model: SplitModel, scenario: Scenario, rate_per_s: float, pick: tuple[int, int] | None
) -> dict[str, Any]:
    """The fast model's pick (None when no split up to its limit holds) and its predicted
    value of each objective's statistic there."""
    if pick is None:
        return {"prefill_replicas": None, "decode_replicas": None, "predicted": {}}
    point = model.at_rate(rate_per_s, *pick)
    return {
        "prefill_replicas": pick[0],
        "decode_replicas": pick[1],
        "predicted": {
            o.key: float(point[latency_model.column(o.key)])
            for o in slo_eval.objectives(scenario.slo)
        },
    }


def split_note(split: dict[str, Any], colocated_usd: float | None) -> str:
    """One sentence comparing the prefill/decode split with the colocated pick."""
    p, d = split["prefill"], split["decode"]
    fleet = (
        f"{p['replicas']} prefill + {d['replicas']} decode replicas "
        f"({p['gpu']} tp={p['tp']}, {d['gpu']} tp={d['tp']})"
    )
    if not split["holds"]:
        return f"prefill/decode split: {split['reason']}"
    cost = split["monthly_cost_usd"]
    worst = ", ".join(
        f"{key} {seconds(max(v for v in values if v is not None))}"
        for key, values in split["achieved"].items()
        if any(v is not None for v in values)
    )
    held = f"{fleet} hold the SLO in simulation ({worst}, the worst seed) for {usd(cost, 0)}/month"
    fast = split.get("fast", {})
    if fast.get("prefill_replicas") is not None:
        predicted = ", ".join(f"{k} {seconds(v)}" for k, v in fast["predicted"].items())
        held += (
            f" (the fast model's pick, where the simulation started: {fast['prefill_replicas']}"
            f" + {fast['decode_replicas']}, predicted {predicted})"
        )
    if colocated_usd is None:
        return f"prefill/decode split: {held}"
    diff = cost - colocated_usd
    versus = (
        "the same as"
        if abs(diff) < 0.5
        else f"{usd(abs(diff), 0)} {'less' if diff < 0 else 'more'} than"
    )
    return f"prefill/decode split: {held}, {versus} the colocated pick"
