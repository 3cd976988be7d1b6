"""Does a fleet hold its SLO? Answered by simulation, the way ``plan`` stands behind a pick.

A fleet is checked at a constant Poisson rate (the busiest hour's, for a daily cycle) with
several seeds; it *holds* when every ``[slo]`` objective is met, with the same evaluator
``run`` uses (:mod:`simplan.slo`), over the requests of every seed's measurement window.
:func:`fewest_replicas` searches for the smallest replica count that holds, starting
from the fast model's estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from simplan.cluster import optional_client
from simplan.errors import SimplanError
from simplan.metrics import summarize
from simplan.scenario import trial_scenario
from simplan.sim import simulate

#: Seeds each verification runs (seed, seed + 1, ...): a fleet holds only if all pass.
VERIFY_SEEDS = 3
#: Requests each seed measures (after warm-up): enough for a stable p95/p99.
WINDOW_REQUESTS = 2500
#: Replica counts tried above the fast estimate before giving up on a candidate.
MAX_EXTRA_REPLICAS = 6


# The Dask client seeds run on inside :func:`seeds_in_parallel`; None: one after another.
_CLIENT: ContextVar[Any] = ContextVar("simplan_verification_client", default=None)


@contextmanager
def seeds_on(client: Any) -> Iterator[None]:
    """Inside the block, every verification simulates all its seeds at once on the Dask
    ``client`` (None: one after another in this process). The outcome is the same either
    way: seeds are folded in order and stop counting at the first that fails."""
    token = _CLIENT.set(client)
    try:
        yield
    finally:
        _CLIENT.reset(token)


@contextmanager
def seeds_in_parallel(scheduler: str | None, workers: int | None) -> Iterator[None]:
    """:func:`seeds_on` a Dask cluster: the one at ``scheduler``, else a local one of
    ``workers`` processes; with neither, seeds run one after another."""
    with optional_client(scheduler, workers) as client, seeds_on(client):
        yield


def _each(fn: Callable[..., Any], runs: list[tuple[Any, ...]]) -> Iterable[Any]:
    """``fn(*run)`` for each run, in order: all submitted at once on the cluster of
    :func:`seeds_in_parallel`, else lazily, so a caller that stops at the first failing
    seed simulates no more."""
    client = _CLIENT.get()
    if client is None:
        return (fn(*run) for run in runs)
    futures = client.map(fn, *zip(*runs, strict=True), pure=False)
    return client.gather(futures)


#: Keys that turn a scenario's fleet into a fixed one (the elastic parts removed): what a
#: fleet size is checked with.
FIXED_FLEET: dict[str, Any] = {
    "hardware.pools": None,
    "autoscaling": None,
    "failures": None,
    "overflow": None,
}


@dataclass
class Verification:
    """The outcome of simulating one fleet size with every seed."""

    replicas: int
    holds: bool
    seeds: list[int]
    rate_per_s: float
    warmup_s: float
    duration_s: float
    achieved: dict[str, list[float | None]] = field(default_factory=dict)
    # what the seed that failed missed: objective names, "saturated" or "fit"
    missed: list[str] = field(default_factory=list)


def verification_overrides(
    overrides: dict[str, Any],
    replicas: int,
    rate_per_s: float,
    seed: int,
    warmup_s: float,
    arrival: str = "poisson",
) -> dict[str, Any]:
    """The scenario keys a verification run sets: a fixed fleet at the busiest hour's rate,
    with the scenario's own arrival process (Poisson, gamma with its burstiness, or
    constant)."""
    window_s = WINDOW_REQUESTS / rate_per_s
    return {
        **overrides,
        **FIXED_FLEET,
        "hardware.replicas": replicas,
        "workload.arrival": arrival if arrival in ("poisson", "gamma", "constant") else "poisson",
        "workload.rate_per_s": rate_per_s,
        "workload.duration_s": warmup_s + window_s,
        "workload.num_requests": None,
        "workload.diurnal": None,
        "simulation.seed": seed,
        "simulation.warmup_s": warmup_s,
    }


def simulate_fleet(
    raw: dict[str, Any],
    overrides: dict[str, Any],
    replicas: int,
    rate_per_s: float,
    *,
    source: str,
    warmup_s: float,
    seed: int,
    seeds: int = VERIFY_SEEDS,
    fleet: dict[str, Any] | None = None,
) -> Verification:
    """Simulate ``replicas`` replicas at ``rate_per_s`` with ``seeds`` seeds; stop at the
    first seed that misses an objective (the fleet does not hold).

    ``fleet`` sets keys after the fixed fleet's (a prefill/decode split keeps its decode
    pool through ``hardware.pools``)."""
    arrival = str(raw.get("workload", {}).get("arrival", "poisson"))
    runs = [
        (
            raw,
            verification_overrides(overrides, replicas, rate_per_s, seed + k, warmup_s, arrival)
            | (fleet or {}),
            source,
        )
        for k in range(seeds)
    ]
    used: list[int] = []
    achieved: dict[str, list[float | None]] = {}
    missed: list[str] = []
    for k, outcome in enumerate(_each(_seed_outcome, runs)):
        used.append(seed + k)
        for key, v in outcome["achieved"].items():
            achieved.setdefault(key, []).append(v)
        missed = outcome["missed"]
        if missed:
            break
    duration_s = warmup_s + WINDOW_REQUESTS / rate_per_s
    return Verification(
        replicas, not missed, used, rate_per_s, warmup_s, duration_s, achieved, missed
    )


def _seed_outcome(raw: dict[str, Any], values: dict[str, Any], source: str) -> dict[str, Any]:
    """One seed of a verification: each objective's achieved value and what it missed
    (objective names, "saturated", "slo", or "fit" when the fleet cannot be built)."""
    try:
        summary = summarize(simulate(trial_scenario(raw, values, source)))
    except SimplanError:
        return {"achieved": {}, "missed": ["fit"]}
    achieved = {key: v["achieved"] for key, v in summary["slo"].items()}
    missed = [key for key, v in summary["slo"].items() if v["met"] is False]
    if summary["requests_in_flight"]:
        missed.append("saturated")
    if summary["slo_met"] is False and not missed:
        missed = ["slo"]
    return {"achieved": achieved, "missed": missed}


def _job_span(raw: dict[str, Any], values: dict[str, Any], source: str) -> float | None:
    """One seed of a finite job: its makespan, None when the fleet cannot be built."""
    try:
        return float(simulate(trial_scenario(raw, values, source)).end_s)
    except SimplanError:
        return None


def fewest_replicas(
    raw: dict[str, Any],
    overrides: dict[str, Any],
    start: int,
    rate_per_s: float,
    *,
    source: str,
    warmup_s: float,
    seed: int,
) -> tuple[Verification | None, list[Verification]]:
    """The smallest replica count that holds, searching from ``start``.

    Returns (the verification that holds or None, every verification run).
    """
    tried: dict[int, Verification] = {}

    def check(n: int) -> Verification:
        if n not in tried:
            tried[n] = simulate_fleet(
                raw,
                overrides,
                n,
                rate_per_s,
                source=source,
                warmup_s=warmup_s,
                seed=seed,
            )
        return tried[n]

    n = fewest(lambda k: check(k).holds, start)
    return (tried[n] if n is not None else None), [tried[k] for k in sorted(tried)]


def worth_checking(held: list[bool], limit: int, cost: float, best_cost: float) -> bool:
    """Whether to simulate the next configuration in cost order, given which of those
    simulated so far held: until ``limit`` held (ones that fail do not count, but at most
    three times as many are tried), and only while it could still be the cheapest."""
    return sum(held) < limit and len(held) < 3 * limit and cost <= best_cost


def fewest(holds: Callable[[int], bool], start: int) -> int | None:
    """The smallest count (of replicas) for which ``holds`` is true, searching from
    ``start``: down while it holds, else up by at most :data:`MAX_EXTRA_REPLICAS`."""
    n = max(1, start)
    if holds(n):
        while n > 1 and holds(n - 1):
            n -= 1
        return n
    for k in range(n + 1, n + MAX_EXTRA_REPLICAS + 1):
        if holds(k):
            return k
    return None


def warmup_for(e2e_s: float, scenario_warmup_s: float) -> float:
    """Warm-up of a verification run: long enough for the batch to fill (several
    end-to-end latencies), at least a minute, and no longer than the scenario asks."""
    if not math.isfinite(e2e_s):
        return scenario_warmup_s
    return min(max(60.0, 4.0 * e2e_s), max(scenario_warmup_s, 60.0))


def describe(v: Verification) -> dict[str, Any]:
    """Plain-JSON form of a verification for plan's output."""
    return {
        "replicas": v.replicas,
        "holds": v.holds,
        "seeds": v.seeds,
        "rate_per_s": v.rate_per_s,
        "warmup_s": v.warmup_s,
        "duration_s": v.duration_s,
        "achieved": {k: list(vals) for k, vals in v.achieved.items()},
    }


def job_makespans(
    raw: dict[str, Any],
    overrides: dict[str, Any],
    replicas: int,
    *,
    source: str,
    seed: int,
    deadline_s: float,
    seeds: int = VERIFY_SEEDS,
) -> tuple[bool, list[float]]:
    """Simulate a finite job on ``replicas`` replicas with ``seeds`` seeds; it holds when
    every seed finishes by the deadline (stops at the first that does not)."""
    runs = [
        (
            raw,
            {
                **overrides,
                **FIXED_FLEET,
                "hardware.replicas": replicas,
                "simulation.seed": seed + k,
            },
            source,
        )
        for k in range(seeds)
    ]
    spans: list[float] = []
    for span in _each(_job_span, runs):
        if span is None:
            return False, spans
        spans.append(span)
        if span > deadline_s:
            return False, spans
    return True, spans
