"""The discrete-event simulation of a fleet: build it, run simpy, return the raw records.

:func:`simulate` builds the pools (:mod:`simplan.pools`), one engine per replica the run
may use (:mod:`simplan.engine`), the fleet (:mod:`simplan.fleet`), the clients that send
requests (:mod:`simplan.clients`) and the sampler (:mod:`simplan.sampler`), then runs
simpy until every request has completed or been rejected (or a drain limit passes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from simplan.arrivals import Requests
from simplan.clients import Client, Completion, closed_users, open_loop, start_sessions
from simplan.economics import pool_usd_per_hour
from simplan.engine import ACTIVE, OFF, ReplicaEngine
from simplan.feasibility import check_request_budget, check_workload, drain_limit_s
from simplan.fleet import Billing, Fleet, autoscaler, failures, spot_interruptions
from simplan.latency_model import ReplicaModel
from simplan.overload import (
    MAX_WATCH_SAMPLES,
    WATCH_INTERVAL_S,
    bound_overload,
    watch_backlog,
)
from simplan.pools import (
    Pool,
    build_pools,
    check_requests_fit,
    fleet_max_rate_per_s,
    max_rate_per_replica,
    slo_best_case_notes,
)
from simplan.recorder import PENDING, Recorder, TimeSeries
from simplan.sampler import MAX_SAMPLES, sample_now, sampler
from simplan.scenario import Scenario
from simplan.scheduler import SchedulerSettings
from simplan.sessions import session_starts
from simplan.workload import generate_requests, mean_lengths, reuses_prompts

__all__ = [
    "SimResult",
    "build_engines",
    "recorder_fields",
    "simulate",
]


@dataclass
class SimResult:
    """Raw output of one simulation: request rows, time series, fleet, timings."""

    scenario: Scenario
    pools: list[Pool]
    engines: list[ReplicaEngine]
    requests: Recorder
    series: TimeSeries
    interval_s: float
    arrival_end_s: float
    end_s: float
    fleet: Fleet
    notes: list[str] = field(default_factory=list)


def simulate(
    scenario: Scenario, progress: Callable[[float, float], None] | None = None
) -> SimResult:
    """Run the scenario's serving simulation.

    Parameters
    ----------
    scenario : Scenario
    progress : callable, optional
        Called as ``progress(simulated_s, horizon_s)`` while the simulation runs.
    """
    pools = build_pools(scenario)
    prompt, output = check_workload(scenario)
    check_requests_fit(pools, scenario.engine.block_size, prompt, output)
    w = scenario.workload
    rng = np.random.default_rng(scenario.simulation.seed)
    arch = scenario.model.arch()
    context = arch.max_context_tokens

    env = simpy.Environment()
    # closed loops and sessions make their requests as earlier ones finish
    closed = w.arrival == "closed" or w.sessions is not None
    i_len, o_len = mean_lengths(scenario)
    capacity_per_s = fleet_max_rate_per_s(pools, i_len, o_len)
    scenario, overload_note, overloaded = bound_overload(scenario, capacity_per_s)
    if scenario.autoscaling is not None:  # the most the fleet can grow to serve
        cap0 = pools[0].section.replicas
        capacity_per_s += (scenario.autoscaling.max_replicas - cap0) * max_rate_per_replica(
            pools[0], i_len, o_len
        )
    check_request_budget(scenario, capacity_per_s)  # an overload is cut short
    w = scenario.workload
    reqs: Requests | None = None if closed else generate_requests(scenario, rng, context)
    # rows are added as requests arrive: a run stopped early never holds the rest
    if reqs is None:
        rec = Recorder(capacity=1024, **recorder_fields(scenario))
    elif w.arrival == "offline":  # every request arrives at t = 0: hold them all at once
        rec = Recorder(capacity=len(reqs), **recorder_fields(scenario))
    else:
        rec = Recorder(
            capacity=min(len(reqs), 1 << 16), max_rows=len(reqs), **recorder_fields(scenario)
        )

    engines, billing = build_engines(env, scenario, pools, rec)
    fleet = Fleet(env, scenario, engines, billing, rec, context, scenario.simulation.seed)
    _start_fleet(fleet, scenario, pools)

    completion = Completion(env, fleet)
    stopped = env.event()
    if reqs is not None:
        arrival_end = float(reqs.arrival_s[-1]) if len(reqs) else 0.0
        env.process(open_loop(env, reqs, completion, stopped))
        # an offline batch is bounded work, and so is a benchmark measured to its end
        if w.arrival != "offline" and not scenario.simulation.run_to_completion:
            env.process(
                watch_backlog(
                    env,
                    lambda: completion.outstanding,
                    capacity_per_s,
                    stopped.succeed,
                    arrivals_done=lambda: completion.arrivals_done,
                    interval_s=max(WATCH_INTERVAL_S, arrival_end / MAX_WATCH_SAMPLES),
                )
            )
    else:
        arrival_end = float(w.duration_s or 0.0)
        client = Client(completion, scenario, rng, context)
        if w.sessions is not None:
            starts = session_starts(scenario, rng)
            arrival_end = float(starts[-1]) if starts.size else 0.0
            env.process(start_sessions(client, starts))
        else:
            closed_users(client, w.concurrency or 1)
    all_done = completion.done

    horizon = max(arrival_end, float(w.duration_s or 0.0))
    # an overloaded fleet only needs long enough to show its sustained rate and backlog
    drain = drain_limit_s(horizon, overloaded)
    # An offline batch or a closed loop cannot outrun the fleet (their work is bounded and
    # every admitted request fits), so they run to completion; an open loop can be
    # saturated, and stops draining after `drain` seconds.
    bounded = w.arrival in ("offline", "closed") or scenario.simulation.run_to_completion
    cap = math.inf if bounded else horizon + drain
    if w.sessions is not None:  # sessions arrive open-loop: an overloaded fleet is cut short
        cap = horizon + drain
    expected_end = cap if math.isfinite(cap) else _expected_end(pools, scenario, horizon)
    interval = max(scenario.simulation.timeseries_interval_s, expected_end / MAX_SAMPLES)
    series = TimeSeries(len(engines))
    env.process(sampler(env, engines, series, interval, fleet))

    chunk = max(expected_end / 200.0, 1e-3)
    saturation_note: str | None = None
    while not all_done.triggered and env.now < cap:
        # stop exactly when the last request finishes, or at the next progress tick
        step = max(chunk, env.now / 50.0)  # runs that outlast the estimate take larger steps
        wake = [all_done, env.timeout(min(step, cap - env.now))]
        env.run(until=env.any_of(wake if stopped.triggered else [*wake, stopped]))
        if stopped.triggered and saturation_note is None:
            # saturated: arrivals have stopped; drain briefly, as for a far overload
            arrival_end = float(rec.arrival_s[rec.n - 1]) if rec.n else 0.0
            saturation_note = str(stopped.value)
            drain = 60.0
            cap = min(cap, env.now + drain)
        if progress is not None:
            progress(min(env.now, max(horizon, expected_end)), max(horizon, expected_end))
    sample_now(env, engines, series, fleet)
    fleet.finish_run()
    notes: list[str] = [n for n in (overload_note, saturation_note) if n]
    notes.extend(slo_best_case_notes(scenario, pools))
    for pool in pools:
        notes.extend(pool.replica.notes)
    in_flight = int((rec.column("status") == PENDING).sum())
    if in_flight:
        notes.append(
            f"{in_flight} requests were still in flight when the drain limit "
            f"({drain:.0f} s after the last arrival) was reached: the fleet is saturated"
        )
    return SimResult(
        scenario,
        pools,
        engines,
        rec,
        series,
        interval,
        arrival_end,
        env.now,
        fleet,
        sorted(set(notes), key=notes.index),
    )


def build_engines(
    env: simpy.Environment, scenario: Scenario, pools: list[Pool], rec: Recorder
) -> tuple[list[ReplicaEngine], list[Billing]]:
    """Every replica the run may use: an autoscaled pool gets max_replicas engines."""
    eng = scenario.engine
    engines: list[ReplicaEngine] = []
    billing: list[Billing] = []
    for pool in pools:
        count = pool.section.replicas
        if pool.index == 0 and scenario.autoscaling is not None:
            count = scenario.autoscaling.max_replicas
        usd_per_s = (
            pool_usd_per_hour(
                scenario, pool.section.gpu, pool.section.pricing, pool.replica.num_gpus
            )
            / 3600.0
        )
        settings = SchedulerSettings(
            max_num_seqs=pool.replica.engine.max_num_seqs,
            # the replica's own: SGLang's chunk size depends on its GPU
            max_num_batched_tokens=pool.replica.engine.max_num_batched_tokens,
            block_size=eng.block_size,
            chunked_prefill=eng.chunked_prefill,
            static=eng.scheduler == "static",
            reserve_whole_output=eng.reserves_whole_output,
            # nothing to cache without shared prefixes or sessions (nor to look up)
            prefix_caching=eng.enable_prefix_caching and reuses_prompts(scenario),
            role=pool.section.role,
            admission="sglang" if eng.name == "sglang" else "vllm",
            output_lag=pool.replica.engine.output_lag,
        )
        for k in range(count):
            e = ReplicaEngine(
                env,
                len(engines),
                pool.replica,
                rec,
                settings,
                pool=pool.index,
                state=OFF if k >= pool.section.replicas else ACTIVE,
            )
            engines.append(e)
            billing.append(Billing(usd_per_s, pool.section.pricing))
    return engines, billing


def _start_fleet(fleet: Fleet, scenario: Scenario, pools: list[Pool]) -> None:
    """Start the initial replicas and the autoscaler, spot and failure processes."""
    env = fleet.env
    for e in fleet.engines:
        if e.state == ACTIVE:
            fleet.activate(e)
        else:
            fleet.set_state(e, OFF)
    autoscaled = [e for e in fleet.engines if e.pool == 0] if scenario.autoscaling else []
    if scenario.autoscaling is not None:
        model = ReplicaModel.of(pools[0].replica.cfg, scenario)
        r_max, rate = model.r_max_per_s, model.rate_under_slo()
        env.process(autoscaler(fleet, autoscaled, rate if rate > 0 else r_max))
    for pool in pools:
        if pool.section.interruptions_per_hour > 0:
            for e in fleet.engines:
                if e.pool == pool.index:
                    env.process(
                        spot_interruptions(
                            fleet,
                            e,
                            pool.section.interruptions_per_hour,
                            pool.section.interruption_notice_s,
                            replace=e not in autoscaled,
                        )
                    )
    if scenario.failures is not None:
        for e in fleet.engines:
            env.process(
                failures(fleet, e, scenario.failures.mtbf_hours, scenario.failures.repair_s)
            )


def _expected_end(pools: list[Pool], scenario: Scenario, horizon: float) -> float:
    """A rough end time for runs without a fixed horizon (sampling interval, progress)."""
    if horizon > 0:
        return horizon
    w = scenario.workload
    rate = fleet_max_rate_per_s(pools, *mean_lengths(scenario))
    return max((w.num_requests or 1) / max(rate, 1e-9), 1.0)


def recorder_fields(scenario: Scenario) -> dict[str, Any]:
    """The Recorder's optional fields this scenario's workload and fleet use."""
    w = scenario.workload
    wanted = {
        "reasoning": w.reasoning_tokens is not None,
        "reuse": reuses_prompts(scenario),
        "session": w.sessions is not None,
        "disaggregated": scenario.hardware.disaggregated,
    }
    return {
        "features": frozenset(f for f, on in wanted.items() if on),
        "shared_prefix_tokens": w.prefix_tokens,
    }
