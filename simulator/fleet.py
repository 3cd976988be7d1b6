"""An elastic fleet: replicas that start, drain, fail and get taken back, and an API overflow.

:class:`Fleet` owns the replica engines and routes requests to the active ones (or to a
backlog while none is active, or to an API when the fleet is too busy). It bills every
replica by the second for the states a provider charges for (provisioning, active,
draining, failed; reserved replicas for the whole run) and counts requests re-queued
after spot interruptions and retried after failures. The autoscaler, spot interruptions
and failures are small simpy processes, one function each.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from simplan.disaggregation import transfer_s
from simplan.economics import ApiQuote, cached_input_share, catalog_quote, selected_apis
from simplan.engine import ACTIVE, DRAINING, FAILED, OFF, PROVISIONING, ReplicaEngine
from simplan.kernels import layout as c
from simplan.kernels.memory import weight_bytes_per_gpu
from simplan.recorder import Recorder
from simplan.routing import POLICIES
from simplan.scenario import AutoscalingSection, Scenario

#: Recorder.replica value of a request the overflow API served.
SERVED_BY_API = -2

#: States in which a replica is up: it holds its GPUs and can compute (active, and draining
#: its last requests). Cold starts (provisioning), failed and off replicas are not up.
UP_STATES: tuple[int, ...] = (ACTIVE, DRAINING)


@dataclass
class Billing:
    """Per-replica billing: price per second and the seconds billed so far."""

    usd_per_s: float
    pricing: str
    billed_s: float = 0.0
    since: float | None = None
    active_s: float = 0.0
    failed_s: float = 0.0


@dataclass
class FleetCounters:
    requeued: int = 0  # taken off an interrupted spot replica
    retried: int = 0  # taken off a failed replica
    to_api: int = 0
    api_input_tokens: int = 0
    api_output_tokens: int = 0
    api_usd: float = 0.0
    provisioned: int = 0
    interruptions: int = 0
    failures: int = 0
    cold_start_s: list[float] = field(default_factory=list)


#: Fewest requests the overflow rate cap's token bucket holds. With one, a cap below 1/s
#: never admitted anything (a bucket of ``cap`` tokens never reaches a whole request), and
#: a full bucket waiting for the next arrival loses the refill meanwhile (a cap of 0.5/s
#: would self-host 0.4/s of a 2/s load); with two, a sustained load gets the cap.
MIN_CAP_BURST = 2.0


def cap_burst(rate_cap_per_s: float) -> float:
    """Requests the overflow rate cap's token bucket holds: a second's worth, at least two."""
    return max(MIN_CAP_BURST, rate_cap_per_s)


def cold_start_s(engine: ReplicaEngine, autoscaling: AutoscalingSection) -> float:
    """Instance start plus loading the replica's weights at the storage bandwidth."""
    weights = weight_bytes_per_gpu(engine.cfg) * engine.cfg[c.TP] * engine.cfg[c.PP]
    return autoscaling.instance_start_s + weights / (autoscaling.storage_gb_per_s * 1e9)


class Fleet:
    """Replica engines, their lifecycle and billing, and request routing."""

    def __init__(
        self,
        env: simpy.Environment,
        scenario: Scenario,
        engines: list[ReplicaEngine],
        billing: list[Billing],
        rec: Recorder,
        context: int,
        seed: int,
    ) -> None:
        self.env = env
        self.scenario = scenario
        self.engines = engines
        self.billing = billing
        self.rec = rec
        self.context = context
        self.policy = POLICIES[scenario.engine.router]()
        self.backlog: deque[int] = deque()
        self.counters = FleetCounters()
        self.rng = np.random.default_rng([seed, 7919])  # its own stream: same arrivals
        self.autoscaling = scenario.autoscaling or AutoscalingSection()
        self.api: ApiQuote | None = None
        ov = scenario.overflow
        if ov is not None:
            self.api = next(a for a in selected_apis_with(scenario, ov.api) if a.id == ov.api)
        self._cap_tokens = 0.0
        self._cap_last = 0.0
        self.arrivals = 0  # dispatches of new requests
        # replica index -> event that fires when that replica is next up (active/draining)
        self._up_events: dict[int, simpy.Event] = {}
        self.self_hosted_arrivals = 0  # routed to the fleet (the autoscaler's rate)
        # every replica's lifecycle: (time, state) at construction and at each change
        self.state_log: list[list[tuple[float, int]]] = [[(env.now, e.state)] for e in engines]
        for e in engines:
            e.on_drained = self.stop
            if e.role == "prefill":
                e.on_prefilled = self.hand_off

    # --- lifecycle and billing ---------------------------------------------------------

    def _bill(self, i: int, billed: bool) -> None:
        b = self.billing[i]
        now = self.env.now
        if b.since is not None:
            b.billed_s += now - b.since
            b.since = None
        if billed or b.pricing == "reserved":
            b.since = now

    def set_state(self, e: ReplicaEngine, state: int) -> None:
        b = self.billing[e.index]
        left, spent = e.enter_state(state)
        # time in the old state, for availability
        if left in UP_STATES:
            b.active_s += spent
        elif left == FAILED:
            b.failed_s += spent
        if state != left:
            self.state_log[e.index].append((self.env.now, state))
        self._bill(e.index, state != OFF)
        if state in UP_STATES and e.index in self._up_events:
            self._up_events.pop(e.index).succeed()

    def until_up(self, e: ReplicaEngine) -> simpy.Event:
        """An event that fires when replica ``e`` is next up (active or draining)."""
        if e.index not in self._up_events:
            self._up_events[e.index] = self.env.event()
        return self._up_events[e.index]

    def activate(self, e: ReplicaEngine) -> None:
        self.set_state(e, ACTIVE)
        e.start()
        pending, self.backlog = self.backlog, deque()
        for req in pending:
            self.route(req)

    def provision(self, e: ReplicaEngine) -> None:
        """Start a new instance: billed from now, active after its cold start."""
        delay = cold_start_s(e, self.autoscaling)
        self.counters.provisioned += 1
        self.counters.cold_start_s.append(delay)
        self.set_state(e, PROVISIONING)

        def ready() -> Generator[simpy.Event, Any, None]:
            yield self.env.timeout(delay)
            if e.state == PROVISIONING:
                self.activate(e)

        self.env.process(ready())

    def drain(self, e: ReplicaEngine) -> None:
        """Stop routing to a replica; it stops (and stops billing) once its work is done."""
        self.set_state(e, DRAINING)
        if e.outstanding() == 0:
            if e.process is not None and e.process.is_alive:
                e.process.interrupt("drained")
            self.stop(e)
        else:
            e.wake()  # an idle loop sees it is draining and reports when it is done

    def stop(self, e: ReplicaEngine) -> None:
        self.set_state(e, OFF)

    def evict(self, e: ReplicaEngine, *, why: str) -> None:
        """Take every request off a replica and route it again."""
        reqs = e.evict()
        for req in reqs:
            self.rec.retries[req] += 1
            if why == "spot":
                self.counters.requeued += 1
            else:
                self.counters.retried += 1
        for req in reqs:
            self.route(req)

    def finish_run(self) -> None:
        for e in self.engines:
            self.set_state(e, e.state)  # close the open billing and state intervals

    # --- routing -----------------------------------------------------------------------

    def active(self) -> list[ReplicaEngine]:
        return [e for e in self.engines if e.state == ACTIVE]

    def reject_reason(self, req: int) -> str | None:
        inp, out = int(self.rec.input_tokens[req]), int(self.rec.output_tokens[req])
        if inp + out > self.context:
            return f"prompt + output exceed the model's context of {self.context} tokens"
        if not any(e.ever_admits(inp + out) for e in self.engines):
            return "longer than one replica's KV cache holds"
        return None

    def route(self, req: int) -> None:
        """Send a request to a replica, the overflow API, the backlog, or reject it."""
        reason = self.reject_reason(req)
        if reason is not None:
            self.rec.reject(req, self.env.now, reason)
            return
        tokens = int(self.rec.input_tokens[req]) + int(self.rec.output_tokens[req])
        # new requests start where prompts are computed (not on decode-only replicas)
        candidates = [e for e in self.active() if e.role != "decode" and e.ever_admits(tokens)]
        if self.api is not None and self._overflow(candidates):
            self._serve_by_api(req)
            return
        self.self_hosted_arrivals += 1
        if not candidates:
            self.backlog.append(req)
            return
        # affinity follows the most specific cached prefix: the session's conversation,
        # else the shared prefix
        session = int(self.rec.session_entry[req])
        key = session if session >= 0 else int(self.rec.prefix_id[req])
        self.policy(candidates, key).submit(req)

    def _decoders(self, req: int) -> list[ReplicaEngine]:
        tokens = int(self.rec.input_tokens[req]) + int(self.rec.output_tokens[req])
        return [e for e in self.active() if e.role == "decode" and e.ever_admits(tokens)]

    def hand_off(self, src: ReplicaEngine, req: int) -> None:
        """A prefill replica computed ``req``'s prompt: move its KV cache to a decode
        replica (simplan.disaggregation); the first token reaches the client when the
        cache has arrived."""
        rec = self.rec
        decoders = self._decoders(req)
        if not decoders:  # none up: start over when one is (its prompt is recomputed)
            rec.generated[req] = 0
            self.backlog.append(req)
            return
        session = int(rec.session_entry[req])
        dst = self.policy(decoders, session if session >= 0 else int(rec.prefix_id[req]))
        link = self.scenario.hardware.kv_transfer_gb_per_s
        seconds = transfer_s(src.replica, dst.replica, int(rec.input_tokens[req]), link)
        rec.kv_transfer_s[req] = seconds

        def arrive() -> Generator[simpy.Event, Any, None]:
            yield self.env.timeout(seconds)
            if rec.first_token_s[req] < 0:
                rec.first_token_s[req] = self.env.now
            if rec.generated[req] >= rec.output_tokens[req]:
                rec.finish(req, self.env.now)  # the prompt's token was the only one
                return
            rec.kv_ready[req] = 1
            target = dst if dst.state == ACTIVE else None
            if target is None:
                others = self._decoders(req)
                if not others:
                    rec.kv_ready[req] = 0
                    rec.generated[req] = 0
                    self.backlog.append(req)
                    return
                target = self.policy(others, -1)
            target.submit(req)

        self.env.process(arrive())

    def _overflow(self, candidates: list[ReplicaEngine]) -> bool:
        ov = self.scenario.overflow
        assert ov is not None
        if not candidates:
            return True
        if ov.max_queue_per_replica is not None and all(
            len(e.waiting) >= ov.max_queue_per_replica for e in candidates
        ):
            return True
        if ov.rate_cap_per_s is not None:
            # token bucket: refills at the cap and holds cap_burst() requests, so a cap
            # below 1/s still self-hosts one request every 1/cap s on average
            now = self.env.now
            self._cap_tokens = min(
                cap_burst(ov.rate_cap_per_s),
                self._cap_tokens + (now - self._cap_last) * ov.rate_cap_per_s,
            )
            self._cap_last = now
            if self._cap_tokens < 1.0:
                return True
            self._cap_tokens -= 1.0
        return False

    def _serve_by_api(self, req: int) -> None:
        ov = self.scenario.overflow
        assert ov is not None and self.api is not None
        rec = self.rec
        prompt = int(rec.input_tokens[req]) + int(rec.generated[req])
        remaining = int(rec.output_tokens[req]) - int(rec.generated[req])
        self.counters.to_api += 1
        self.counters.api_input_tokens += prompt
        self.counters.api_output_tokens += remaining
        self.counters.api_usd += float(self.api.cost_usd(prompt, remaining))
        if ov.ttft_std_s > 0:
            sigma2 = math.log1p((ov.ttft_std_s / ov.ttft_s) ** 2)
            ttft = float(self.rng.lognormal(math.log(ov.ttft_s) - sigma2 / 2, math.sqrt(sigma2)))
        else:
            ttft = ov.ttft_s
        rec.replica[req] = SERVED_BY_API
        if rec.scheduled_s[req] < 0:
            rec.scheduled_s[req] = self.env.now

        def stream() -> Generator[simpy.Event, Any, None]:
            yield self.env.timeout(ttft)
            if rec.first_token_s[req] < 0:
                rec.first_token_s[req] = self.env.now
            yield self.env.timeout(max(remaining - 1, 0) / ov.output_tokens_per_s)
            rec.generated[req] = rec.output_tokens[req]
            rec.finish(req, self.env.now)

        self.env.process(stream())


def selected_apis_with(scenario: Scenario, api_id: str) -> list[ApiQuote]:
    """The scenario's API quotes, plus the overflow API if [pricing] does not list it."""
    quotes = selected_apis(scenario)
    if all(q.id != api_id for q in quotes):
        quotes.append(catalog_quote(api_id, cached_input_share(scenario)))
    return quotes


# --- processes ---------------------------------------------------------------------------


@dataclass
class ScaleContext:
    """What an autoscaling policy sees at an evaluation."""

    now: float
    active: int  # active replicas of the whole fleet (fixed pools included)
    arrival_rate_per_s: float
    outstanding: int
    mean_kv_load: float
    replica_rate_per_s: float  # one replica's request rate within the SLO (compiled model)
    target: float
    scenario: Scenario
    lead_s: float


def target_utilization(ctx: ScaleContext) -> int:
    """Replicas so the measured arrival rate uses ``target`` of their capacity under the SLO."""
    return math.ceil(ctx.arrival_rate_per_s / (ctx.target * ctx.replica_rate_per_s) - 1e-9)


def queue_length(ctx: ScaleContext) -> int:
    """Replicas so each holds ``target`` outstanding requests (waiting + running)."""
    return math.ceil(ctx.outstanding / ctx.target - 1e-9)


def kv_load(ctx: ScaleContext) -> int:
    """Replicas so the mean KV-cache share in use is ``target``."""
    return math.ceil(ctx.active * ctx.mean_kv_load / ctx.target - 1e-9)


def scheduled(ctx: ScaleContext) -> int:
    """Replicas for the diurnal profile's rate one cold start ahead, at ``target`` of capacity."""
    w = ctx.scenario.workload
    rate = float(w.rate_per_s or 0.0)
    if w.diurnal:
        hour = int(((ctx.now + ctx.lead_s) // 3600) % 24)
        rate *= w.diurnal[hour]
    return math.ceil(rate / (ctx.target * ctx.replica_rate_per_s) - 1e-9)


SCALING_POLICIES: dict[str, Callable[[ScaleContext], int]] = {
    "target_utilization": target_utilization,
    "queue_length": queue_length,
    "kv_load": kv_load,
    "scheduled": scheduled,
}


def autoscaler(
    fleet: Fleet, pool_engines: list[ReplicaEngine], replica_rate_per_s: float
) -> Generator[simpy.Event, Any, None]:
    """Evaluate the policy every interval; scale up at once, down after a delay."""
    cfg = fleet.autoscaling
    env = fleet.env
    policy = SCALING_POLICIES[cfg.policy]
    lead = cold_start_s(pool_engines[0], cfg)
    below_since: float | None = None
    last_arrivals = fleet.self_hosted_arrivals
    while True:
        yield env.timeout(cfg.interval_s)
        active = [e for e in pool_engines if e.state == ACTIVE]
        starting = [e for e in pool_engines if e.state == PROVISIONING]
        everyone = fleet.active()
        fixed = len(everyone) - len(active)  # the other pools' active replicas
        rate = (fleet.self_hosted_arrivals - last_arrivals) / cfg.interval_s
        last_arrivals = fleet.self_hosted_arrivals
        ctx = ScaleContext(
            now=env.now,
            active=len(everyone),
            arrival_rate_per_s=rate,
            outstanding=sum(e.outstanding() for e in everyone) + len(fleet.backlog),
            mean_kv_load=float(np.mean([e.kv_load() for e in everyone])) if everyone else 1.0,
            replica_rate_per_s=max(replica_rate_per_s, 1e-9),
            target=cfg.target,
            scenario=fleet.scenario,
            lead_s=lead,
        )
        # policies size the whole fleet; this pool provides what the others do not
        desired = min(max(policy(ctx) - fixed, cfg.min_replicas), cfg.max_replicas)
        current = len(active) + len(starting)
        if desired > current:
            below_since = None
            for e in [e for e in pool_engines if e.state == OFF][: desired - current]:
                fleet.provision(e)
        elif desired < len(active):
            if below_since is None:
                below_since = env.now
            elif env.now - below_since >= cfg.scale_down_delay_s:
                victims = sorted(active, key=lambda e: (e.outstanding(), -e.index))
                for e in victims[: len(active) - desired]:
                    fleet.drain(e)
                below_since = None
        else:
            below_since = None


def spot_interruptions(
    fleet: Fleet, e: ReplicaEngine, per_hour: float, notice_s: float, replace: bool
) -> Generator[simpy.Event, Any, None]:
    """The provider takes a spot replica back: notice, drain, evict, replace."""
    env = fleet.env
    while True:
        if e.state not in UP_STATES:
            yield fleet.until_up(e)  # the provider only takes back instances that run
        yield env.timeout(float(fleet.rng.exponential(3600.0 / per_hour)))
        if e.state not in UP_STATES:
            continue
        fleet.counters.interruptions += 1
        fleet.set_state(e, DRAINING)  # no new requests during the notice
        yield env.timeout(notice_s)
        if e.state != OFF:  # still busy when the notice ran out
            fleet.evict(e, why="spot")
            fleet.stop(e)
        if replace:
            fleet.provision(e)


def failures(
    fleet: Fleet, e: ReplicaEngine, mtbf_hours: float, repair_s: float
) -> Generator[simpy.Event, Any, None]:
    """Replica failures: requests are retried elsewhere; the replica returns after repair."""
    env = fleet.env
    while True:
        # A replica fails only while it runs: waiting here (not polling every mtbf) is also
        # what keeps mtbf_hours near 0 from spinning forever at one instant while it is off.
        if e.state not in UP_STATES:
            yield fleet.until_up(e)
        yield env.timeout(float(fleet.rng.exponential(mtbf_hours * 3600.0)))
        if e.state not in UP_STATES:
            continue
        was_draining = e.state == DRAINING
        fleet.counters.failures += 1
        fleet.set_state(e, FAILED)
        fleet.evict(e, why="failure")
        yield env.timeout(repair_s)
        if e.state != FAILED:
            continue
        if was_draining:
            fleet.stop(e)
        else:
            fleet.activate(e)


def describe(fleet: Fleet, end_s: float) -> dict[str, Any]:
    """Accounting of the run: replica-hours and cost by pricing mode, API part, counters."""
    by_part: dict[str, float] = {"on_demand": 0.0, "reserved": 0.0, "spot": 0.0}
    replica_hours: dict[str, float] = {"on_demand": 0.0, "reserved": 0.0, "spot": 0.0}
    active_s = failed_s = 0.0
    for b in fleet.billing:
        by_part[b.pricing] += b.billed_s * b.usd_per_s
        replica_hours[b.pricing] += b.billed_s / 3600.0
        active_s += b.active_s
        failed_s += b.failed_s
    by_part["api"] = fleet.counters.api_usd
    k = fleet.counters
    return {
        "fleet_cost_usd": by_part["on_demand"] + by_part["reserved"] + by_part["spot"],
        "cost_by_part_usd": by_part,
        "replica_hours": replica_hours,
        "availability": active_s / (active_s + failed_s) if active_s + failed_s > 0 else 1.0,
        "requests_requeued": k.requeued,
        "requests_retried": k.retried,
        "requests_to_api": k.to_api,
        "api_input_tokens": k.api_input_tokens,
        "api_output_tokens": k.api_output_tokens,
        "replicas_provisioned": k.provisioned,
        "spot_interruptions": k.interruptions,
        "replica_failures": k.failures,
        "cold_start_s": float(np.mean(k.cold_start_s)) if k.cold_start_s else None,
        "simulated_hours": end_s / 3600.0,
    }


# --- provisioned capacity ----------------------------------------------------------------


def up_intervals(
    fleet: Fleet, states: tuple[int, ...] = UP_STATES
) -> list[list[tuple[float, float]]]:
    """Per engine, the ``[start, end)`` intervals it spent in ``states`` (merged, non-empty).

    An interval still open is closed at ``fleet.env.now`` (the end of a finished run).
    """
    now = float(fleet.env.now)
    out: list[list[tuple[float, float]]] = []
    for log in fleet.state_log:
        spans: list[tuple[float, float]] = []
        since: float | None = None
        for t, state in [*log, (now, -1)]:
            if state in states:
                if since is None:
                    since = t
            elif since is not None:
                if t > since:
                    if spans and spans[-1][1] == since:
                        spans[-1] = (spans[-1][0], t)
                    else:
                        spans.append((since, t))
                since = None
        out.append(spans)
    return out


def replica_up_s(
    fleet: Fleet, start_s: float, end_s: float, states: tuple[int, ...] = UP_STATES
) -> np.ndarray:
    """Seconds each engine spent in ``states`` (default: up) within ``[start_s, end_s]``.

    A float array indexed like ``fleet.engines``; pass ``states`` to count other states,
    e.g. every state but OFF for the billed time.
    """
    up = np.zeros(len(fleet.engines))
    for i, spans in enumerate(up_intervals(fleet, states)):
        up[i] = sum(max(0.0, min(b, end_s) - max(a, start_s)) for a, b in spans)
    return up


def up_counts(
    fleet: Fleet, states: tuple[int, ...] = UP_STATES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fleet's step function: ``(times, replicas, gpus)`` up from each time on.

    ``times`` starts at 0 and is increasing; ``replicas[k]`` and ``gpus[k]`` hold from
    ``times[k]`` until ``times[k + 1]`` (the last until the end of the run). Changes at the
    same instant are netted, so a replica replacing another is not counted twice.
    """
    gpus = np.array([e.replica.num_gpus for e in fleet.engines], dtype=np.int64)
    t: list[float] = [0.0]
    d_rep: list[int] = [0]
    d_gpu: list[int] = [0]
    for i, spans in enumerate(up_intervals(fleet, states)):
        for a, b in spans:
            t += [a, b]
            d_rep += [1, -1]
            d_gpu += [int(gpus[i]), -int(gpus[i])]
    times, inverse = np.unique(np.asarray(t, dtype=float), return_inverse=True)
    rep = np.zeros(times.size, dtype=np.int64)
    gpu = np.zeros(times.size, dtype=np.int64)
    np.add.at(rep, inverse, d_rep)
    np.add.at(gpu, inverse, d_gpu)
    return times, np.cumsum(rep), np.cumsum(gpu)


def provisioned_capacity(fleet: Fleet, start_s: float, end_s: float) -> dict[str, Any]:
    """What the fleet had up (active or draining) within ``[start_s, end_s]``, and at peak.

    The denominators for MFU, MBU and utilization of an elastic fleet: each engine counts
    only for the seconds it was up in the window, with its own GPUs and peaks.

    Returns
    -------
    dict
        ``replica_up_s`` (float array per engine: seconds up in the window),
        ``gpus`` (int array per engine), ``gpu_up_s`` (replica_up_s * gpus),
        ``peak_flop`` (FLOP the up GPUs could do in the window: sum of seconds up x GPUs x
        peak GEMM FLOP/s per GPU), ``peak_bytes`` (likewise, HBM bytes),
        ``mean_replicas`` and ``mean_gpus`` (time-means over the window; 0 for an empty
        window), ``peak_replicas`` and ``peak_gpus`` (most up at once over the whole run,
        ``[0, fleet.env.now]``), ``window_peak_replicas`` and ``window_peak_gpus`` (most
        up at once within the window).
    """
    up = replica_up_s(fleet, start_s, end_s)
    gpus = np.array([e.replica.num_gpus for e in fleet.engines], dtype=np.int64)
    flops = np.array([e.cfg[c.PEAK_GEMM_FLOP_PER_S] for e in fleet.engines], dtype=float)
    bw = np.array([e.cfg[c.BW_BYTES_PER_S] for e in fleet.engines], dtype=float)
    gpu_up = up * gpus
    window = end_s - start_s
    times, rep, gpu = up_counts(fleet)
    # the steps in force at some instant of the window: from the one at start_s on
    first = max(int(np.searchsorted(times, start_s, side="right")) - 1, 0)
    last = int(np.searchsorted(times, end_s, side="left"))
    in_window = slice(first, max(last, first + 1))
    return {
        "replica_up_s": up,
        "gpus": gpus,
        "gpu_up_s": gpu_up,
        "peak_flop": float(gpu_up @ flops),
        "peak_bytes": float(gpu_up @ bw),
        "mean_replicas": float(up.sum() / window) if window > 0 else 0.0,
        "mean_gpus": float(gpu_up.sum() / window) if window > 0 else 0.0,
        "peak_replicas": int(rep.max()),
        "peak_gpus": int(gpu.max()),
        "window_peak_replicas": int(rep[in_window].max()),
        "window_peak_gpus": int(gpu[in_window].max()),
    }
