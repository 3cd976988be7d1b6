"""The fleet's pools: each ``[hardware]`` section built into replicas, and what they sustain.

:func:`build_pools` validates every pool (parallelism, memory fit) before a run;
:func:`fleet_max_rate_per_s` is the compiled model's capacity that the overload guard,
the backlog watch and the metrics' utilization use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simplan import catalog
from simplan.disaggregation import decode_rate_per_s, prefill_rate_per_s
from simplan.engine_knobs import engine_knobs
from simplan.errors import DoesNotFitError, InfeasibleError, Problem
from simplan.fit import does_not_fit_reason, nearest_fit
from simplan.kernels.batch import static_batch
from simplan.kernels.grid import max_rate
from simplan.kv_allocator import ever_admissible, kv_blocks
from simplan.perf import Replica, build_replica
from simplan.scenario import PoolSection, Scenario
from simplan.workload import mean_lengths


@dataclass
class Pool:
    """Replicas of one configuration and what they cost."""

    index: int
    section: PoolSection
    replica: Replica

    @property
    def gpus(self) -> int:
        return self.section.replicas * self.replica.num_gpus


def build_pools(scenario: Scenario, *, require_fit: bool = True) -> list[Pool]:
    """Validate and build every pool of the fleet (raises InfeasibleError if one cannot work).

    ``require_fit=False`` checks the parallelism only, not whether the model fits in memory.
    """
    hw = scenario.hardware

    arch = scenario.model.arch()
    weights = catalog.weights(scenario.model.weights)
    kv = catalog.kv_cache(scenario.model.kv_cache)
    sections: list[tuple[str, PoolSection]] = [("hardware", hw)]
    sections += [(f"hardware.pools[{i}]", p) for i, p in enumerate(hw.pools)]
    pools = []
    for i, (where, sec) in enumerate(sections):
        try:
            knobs = engine_knobs(scenario, sec.gpu, sec.tp, sec.pp)
            replica = build_replica(arch, catalog.gpu(sec.gpu), weights, kv, sec.tp, sec.pp, knobs)
        except InfeasibleError as exc:
            exc.problems = [
                Problem(p.key_path.replace("hardware", where, 1), p.message, p.value, p.has_value)
                for p in exc.problems
            ]
            raise
        reason = does_not_fit_reason(replica, 1, 1) if require_fit else None
        if reason is not None:
            hint = nearest_fit(replica, 1, 1)
            raise DoesNotFitError(
                f"the model does not fit ({where})",
                [Problem(where, reason + (f"; {hint}" if hint else ""))],
            )
        pools.append(Pool(i, sec, replica))
    return pools


def check_requests_fit(pools: list[Pool], block_size: int, prompt: int, output: int) -> None:
    """Refuse a fleet on which even the shortest request (``prompt`` + ``output`` tokens)
    cannot run: no replica's KV cache admits it, so the router would reject every request
    and serve nothing (the rule is :func:`simplan.kv_allocator.ever_admissible`)."""
    need = prompt + output
    for pool in pools:
        cfg = pool.replica.cfg
        if ever_admissible(cfg, need, block_size, *kv_blocks(cfg, block_size)):
            return
    pool = max(pools, key=lambda p: kv_blocks(p.replica.cfg, block_size)[0])
    replica = pool.replica
    hint = nearest_fit(replica, prompt, output)
    where = "hardware" if pool.index == 0 else f"hardware.pools[{pool.index - 1}]"
    raise DoesNotFitError(
        "every request is longer than one replica's KV cache holds: the fleet would reject "
        "them all",
        [
            Problem(
                where,
                f"the shortest request is {need:,} tokens (prompt + output); one replica of "
                f"{replica.arch.id} on {replica.gpu.id} (tp={replica.tp}, pp={replica.pp}) "
                f"holds {replica.memory()['kv_cache_capacity_tokens']:,.0f} tokens of KV cache"
                + (f"; {hint}" if hint else ""),
            )
        ],
    )


def slo_best_case_notes(scenario: Scenario, pools: list[Pool]) -> list[str]:
    """Notes for latency objectives no load could meet (tighter than an idle replica)."""

    i_mean, o_mean = mean_lengths(scenario)
    i_len, o_len = max(round(i_mean), 1), max(round(o_mean), 2)
    notes = []
    best = {"ttft": math.inf, "tpot": math.inf, "e2e": math.inf}
    for pool in pools:
        ttft, tpot, e2e = static_batch(pool.replica.cfg, 1, i_len, o_len)
        best = {
            "ttft": min(best["ttft"], ttft),
            "tpot": min(best["tpot"], tpot),
            "e2e": min(best["e2e"], e2e),
        }
    for (metric, stat), limit in scenario.slo.objectives().items():
        if limit < best[metric]:
            notes.append(
                f"slo.{metric}_{stat}_s = {limit:g} s is below this fleet's best case "
                f"({best[metric]:.4g} s for one request alone at the mean lengths): no load "
                f"can meet it; nearest feasible: {metric}_{stat}_s >= {best[metric]:.3g}"
            )
    return notes


def max_rate_per_replica(pool: Pool, i_len: float, o_len: float) -> float:
    """Requests per second one replica of a pool sustains (the compiled model); for prefill
    and decode pools, the prompts or the decodes it serves (simplan.disaggregation)."""

    if pool.section.role == "prefill":
        return prefill_rate_per_s(pool.replica, i_len)
    if pool.section.role == "decode":
        return decode_rate_per_s(pool.replica, i_len, o_len)
    return float(max_rate(pool.replica.cfg, i_len, o_len))


def fleet_max_rate_per_s(pools: list[Pool], i_len: float, o_len: float) -> float:
    """Requests per second the fleet sustains at these mean lengths (the compiled model):
    with prefill and decode pools, the slower side's."""

    def side(roles: tuple[str, ...]) -> float:
        return sum(
            p.section.replicas * max_rate_per_replica(p, i_len, o_len)
            for p in pools
            if p.section.role in roles
        )

    if all(p.section.role == "both" for p in pools):
        return side(("both",))
    return min(side(("prefill",)), side(("decode",)))
