"""The discrete-event simulation of a fleet: arrivals, router, replica engines, sampler.

:func:`simulate` builds the fleet from a scenario, runs simpy until every request has
completed or been rejected (or a drain limit passes), and returns the raw records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from simplan.economics import pool_usd_per_hour
from simplan.engine import ACTIVE, OFF, ReplicaEngine, ever_admissible, kv_blocks
from simplan.errors import DoesNotFitError, InfeasibleError, Problem
from simplan.feasibility import check_request_budget, check_workload, drain_limit_s
from simplan.fleet import Billing, Fleet, autoscaler, failures, spot_interruptions
from simplan.overload import (
    MAX_WATCH_SAMPLES,
    WATCH_INTERVAL_S,
    bound_overload,
    watch_backlog,
)
from simplan.perf import Replica, build_replica, does_not_fit_reason, engine_knobs, nearest_fit
from simplan.recorder import PENDING, Recorder, TimeSeries
from simplan.scenario import PoolSection, Scenario
from simplan.sessions import session, session_starts
from simplan.workload import (
    Requests,
    generate_requests,
    mean_lengths,
    reuses_prompts,
    sample_generated,
    sample_lengths,
    sample_prefixes,
)

#: Most time-series samples per run; the interval widens for long runs.
MAX_SAMPLES = 4000


@dataclass
class Pool:
    """Replicas of one configuration and what they cost."""

    index: int
    section: PoolSection
    replica: Replica

    @property
    def gpus(self) -> int:
        return self.section.replicas * self.replica.num_gpus


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


def build_pools(scenario: Scenario, *, require_fit: bool = True) -> list[Pool]:
    """Validate and build every pool of the fleet (raises InfeasibleError if one cannot work).

    ``require_fit=False`` checks the parallelism only, not whether the model fits in memory.
    """
    hw = scenario.hardware
    from simplan import catalog

    arch = scenario.model.arch()
    weights = catalog.weights(scenario.model.weights)
    kv = catalog.kv_cache(scenario.model.kv_cache)
    sections: list[tuple[str, PoolSection]] = [("hardware", hw)]
    sections += [(f"hardware.pools[{i}]", p) for i, p in enumerate(hw.pools)]
    pools = []
    for i, (where, sec) in enumerate(sections):
        try:
            knobs = engine_knobs(scenario, sec.gpu)
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
    and serve nothing (the rule is :func:`simplan.engine.ever_admissible`)."""
    need = prompt + output
    for pool in pools:
        if ever_admissible(need, block_size, *kv_blocks(pool.replica.cfg, block_size)):
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

    engines, billing = _build_engines(env, scenario, pools, rec)
    fleet = Fleet(env, scenario, engines, billing, rec, context, scenario.simulation.seed)
    _start_fleet(fleet, scenario, pools)

    state = {"outstanding": 0, "arrivals_done": False}
    all_done = env.event()
    stopped = env.event()

    def finished(_req: int) -> None:
        state["outstanding"] -= 1
        if state["arrivals_done"] and state["outstanding"] == 0 and not all_done.triggered:
            all_done.succeed()

    rec.on_finish = finished

    def dispatch(req: int) -> None:
        state["outstanding"] += 1
        fleet.arrivals += 1
        fleet.route(req)

    if reqs is not None:
        arrival_end = float(reqs.arrival_s[-1]) if len(reqs) else 0.0
        env.process(_open_loop(env, reqs, rec, dispatch, state, all_done, stopped))
        if w.arrival != "offline":  # an offline batch is bounded work: it runs to the end
            env.process(
                watch_backlog(
                    env,
                    lambda: state["outstanding"],
                    capacity_per_s,
                    stopped.succeed,
                    arrivals_done=lambda: bool(state["arrivals_done"]),
                    interval_s=max(WATCH_INTERVAL_S, arrival_end / MAX_WATCH_SAMPLES),
                )
            )
    else:
        arrival_end = float(w.duration_s or 0.0)
        waiters: dict[int, simpy.Event] = {}
        base_finish = rec.on_finish

        def closed_finish(req: int) -> None:
            base_finish(req)
            ev = waiters.pop(req, None)
            if ev is not None:
                ev.succeed()

        rec.on_finish = closed_finish
        if w.sessions is not None:
            starts = session_starts(scenario, rng)
            arrival_end = float(starts[-1]) if starts.size else 0.0
            env.process(
                _sessions(
                    env, starts, rec, dispatch, waiters, scenario, rng, context, state, all_done
                )
            )
        else:
            users = [
                env.process(_closed_user(env, rec, dispatch, waiters, scenario, rng, context))
                for _ in range(w.concurrency or 1)
            ]
            env.process(_closed_end(env, users, state, all_done))

    horizon = max(arrival_end, float(w.duration_s or 0.0))
    # an overloaded fleet only needs long enough to show its sustained rate and backlog
    drain = drain_limit_s(horizon, overloaded)
    # An offline batch or a closed loop cannot outrun the fleet (their work is bounded and
    # every admitted request fits), so they run to completion; an open loop can be
    # saturated, and stops draining after `drain` seconds.
    cap = math.inf if w.arrival in ("offline", "closed") else horizon + drain
    if w.sessions is not None:  # sessions arrive open-loop: an overloaded fleet is cut short
        cap = horizon + drain
    expected_end = cap if math.isfinite(cap) else _expected_end(pools, scenario, horizon)
    interval = max(scenario.simulation.timeseries_interval_s, expected_end / MAX_SAMPLES)
    series = TimeSeries(len(engines))
    env.process(_sampler(env, engines, series, interval, fleet))

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
    _sample_now(env, engines, series, fleet)
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


def _build_engines(
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
        for k in range(count):
            e = ReplicaEngine(
                env,
                len(engines),
                pool.replica,
                rec,
                max_num_seqs=eng.max_num_seqs,
                max_num_batched_tokens=eng.max_num_batched_tokens,
                block_size=eng.block_size,
                chunked_prefill=eng.chunked_prefill,
                static=eng.scheduler == "static",
                reserve_whole_output=eng.reserves_whole_output,
                # nothing to cache without shared prefixes or sessions (nor to look up)
                prefix_caching=eng.enable_prefix_caching and reuses_prompts(scenario),
                role=pool.section.role,
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
        from simplan.latency_model import ReplicaModel

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


def slo_best_case_notes(scenario: Scenario, pools: list[Pool]) -> list[str]:
    """Notes for latency objectives no load could meet (tighter than an idle replica)."""
    from simplan.kernels.batch import static_batch

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
    from simplan.disaggregation import decode_rate_per_s, prefill_rate_per_s
    from simplan.kernels.grid import max_rate

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


def _expected_end(pools: list[Pool], scenario: Scenario, horizon: float) -> float:
    """A rough end time for runs without a fixed horizon (sampling interval, progress)."""
    if horizon > 0:
        return horizon
    w = scenario.workload
    rate = fleet_max_rate_per_s(pools, *mean_lengths(scenario))
    return max((w.num_requests or 1) / max(rate, 1e-9), 1.0)


def _open_loop(
    env: simpy.Environment,
    reqs: Requests,
    rec: Recorder,
    dispatch: Callable[[int], None],
    state: dict,
    all_done: simpy.Event,
    stopped: simpy.Event,
):
    """Release pre-generated requests at their arrival times (until ``stopped``)."""
    times, inp, out = reqs.arrival_s, reqs.input_tokens, reqs.output_tokens
    hidden, prefix = reqs.reasoning_tokens, reqs.prefix_id
    for i in range(len(reqs)):
        delay = float(times[i]) - env.now
        if delay > 0:
            yield env.timeout(delay)
        if stopped.triggered:
            break
        reasoning = 0 if hidden is None else int(hidden[i])
        which = -1 if prefix is None else int(prefix[i])
        dispatch(rec.add(float(times[i]), int(inp[i]), int(out[i]), reasoning, which))
    state["arrivals_done"] = True
    if state["outstanding"] == 0 and not all_done.triggered:
        all_done.succeed()


def _closed_user(
    env: simpy.Environment,
    rec: Recorder,
    dispatch: Callable[[int], None],
    waiters: dict[int, simpy.Event],
    scenario: Scenario,
    rng: np.random.Generator,
    context: int,
):
    """One closed-loop user: send a request, wait for it, think, repeat."""
    w = scenario.workload
    while True:
        if w.duration_s is not None and env.now >= w.duration_s:
            return
        if w.num_requests is not None and rec.n >= w.num_requests:
            return
        inp = int(sample_lengths(w.input_tokens, 1, rng, scenario, "input_tokens", context)[0])
        out, hidden = sample_generated(scenario, 1, rng, context)
        prefix = sample_prefixes(scenario, 1, rng)
        shared = int(w.shared_prefix_tokens or 0)
        which = -1 if prefix is None else int(prefix[0])
        req = rec.add(
            env.now,
            inp + (shared if prefix is not None else 0),
            int(out[0]),
            0 if hidden is None else int(hidden[0]),
            which,
        )
        done = env.event()
        waiters[req] = done
        dispatch(req)
        if rec.status[req] == PENDING:
            yield done
        else:
            waiters.pop(req, None)
            yield env.timeout(1e-3)  # a rejected request: do not spin at the same instant
        if w.think_time_s > 0:
            think = float(rng.exponential(w.think_time_s))
            if w.duration_s is not None:
                think = min(think, max(w.duration_s - env.now, 0.0))  # the run ends first
            yield env.timeout(think)


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
        "shared_prefix_tokens": int(w.shared_prefix_tokens or 0),
    }


def _sessions(
    env: simpy.Environment,
    starts: np.ndarray,
    rec: Recorder,
    dispatch: Callable[[int], None],
    waiters: dict[int, simpy.Event],
    scenario: Scenario,
    rng: np.random.Generator,
    context: int,
    state: dict,
    all_done: simpy.Event,
):
    """Start each session at its time (simplan.sessions); done when every one has ended."""
    first_entry = scenario.workload.num_shared_prefixes  # cache ids after the shared ones
    running = []
    for i, t in enumerate(starts):
        delay = float(t) - env.now
        if delay > 0:
            yield env.timeout(delay)
        running.append(
            env.process(
                session(env, rec, dispatch, waiters, scenario, rng, context, first_entry + i)
            )
        )
    yield from _closed_end(env, running, state, all_done)


def _closed_end(env: simpy.Environment, users: list, state: dict, all_done: simpy.Event):
    yield env.all_of(users)
    state["arrivals_done"] = True
    if state["outstanding"] == 0 and not all_done.triggered:
        all_done.succeed()


def _sample_now(
    env: simpy.Environment, engines: list[ReplicaEngine], series: TimeSeries, fleet: Fleet
) -> None:
    now = env.now
    busy = np.array(
        [e.busy_s + (now - e.busy_since if e.busy_since is not None else 0.0) for e in engines]
    )
    billed = np.array(
        [
            (b.billed_s + (now - b.since if b.since is not None else 0.0)) * b.usd_per_s
            for b in fleet.billing
        ]
    )
    series.append(
        now,
        busy_fraction=busy,  # cumulative busy seconds; differenced into fractions later
        running=np.array([e.n_running for e in engines], dtype=float),
        waiting=np.array([len(e.waiting) for e in engines], dtype=float),
        kv_blocks_used=np.array([e.blocks_used() for e in engines], dtype=float),
        kv_blocks_cached=np.array([e.cache.blocks for e in engines], dtype=float),
        output_tokens=np.array([e.output_tokens for e in engines], dtype=float),
        input_tokens=np.array([e.input_tokens for e in engines], dtype=float),
        flops=np.array([e.flops for e in engines]),
        bytes=np.array([e.bytes for e in engines]),
        state=np.array([e.state for e in engines], dtype=float),
        billed_usd=billed,
    )
    series.fleet_rows["api_usd"].append(fleet.counters.api_usd)
    series.fleet_rows["backlog"].append(float(len(fleet.backlog)))


def _sampler(
    env: simpy.Environment,
    engines: list[ReplicaEngine],
    series: TimeSeries,
    interval: float,
    fleet: Fleet,
):
    while True:
        _sample_now(env, engines, series, fleet)
        # a run that outlasts its expected end samples less often, keeping MAX_SAMPLES
        yield env.timeout(max(interval, env.now / MAX_SAMPLES))
