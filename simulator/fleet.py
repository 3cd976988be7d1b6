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
from simplan.cost import ApiQuote, selected_apis
from simplan.engine import ACTIVE, DRAINING, FAILED, OFF, PROVISIONING, ReplicaEngine
from simplan.kernels import layout as c
from simplan.kernels.memory import weight_bytes_per_gpu
from simplan.recorder import Recorder
from simplan.routing import POLICIES
from simplan.scenario import AutoscalingSection, Scenario

#: Recorder.replica value of a request the overflow API served.
SERVED_BY_API = -2


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
        self.self_hosted_arrivals = 0  # routed to the fleet (the autoscaler's rate)
        for e in engines:
            e.on_drained = self.stop

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
        now = self.env.now
        # time in the old state, for availability
        spent = now - e._state_since
        if e.state in (ACTIVE, DRAINING):
            b.active_s += spent
        elif e.state == FAILED:
            b.failed_s += spent
        e._state_since = now
        e.state = state
        self._bill(e.index, state != OFF)

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
        elif e._wakeup is not None and not e._wakeup.triggered:
            e._wakeup.succeed()

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
        need = -(-(inp + out) // self.engines[0].block)
        if all(need + e.watermark > e.total_blocks for e in self.engines):
            return "longer than one replica's KV cache holds"
        return None

    def route(self, req: int) -> None:
        """Send a request to a replica, the overflow API, the backlog, or reject it."""
        reason = self.reject_reason(req)
        if reason is not None:
            self.rec.reject(req, self.env.now, reason)
            return
        inp, out = int(self.rec.input_tokens[req]), int(self.rec.output_tokens[req])
        need = -(-(inp + out) // self.engines[0].block)
        candidates = [e for e in self.active() if need + e.watermark <= e.total_blocks]
        if self.api is not None and self._overflow(candidates):
            self._serve_by_api(req)
            return
        self.self_hosted_arrivals += 1
        if not candidates:
            self.backlog.append(req)
            return
        self.policy(candidates).submit(req)

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
            # token bucket of one second's worth of requests
            now = self.env.now
            self._cap_tokens = min(
                ov.rate_cap_per_s, self._cap_tokens + (now - self._cap_last) * ov.rate_cap_per_s
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
        self.counters.api_usd += (
            prompt * self.api.usd_per_mtok_input + remaining * self.api.usd_per_mtok_output
        ) / 1e6
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
        from simplan import catalog

        a = catalog.api(api_id)
        quotes.append(
            ApiQuote(
                a.id, a.usd_per_mtok_input, a.usd_per_mtok_output, f"{a.source} (as of {a.as_of})"
            )
        )
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
        yield env.timeout(float(fleet.rng.exponential(3600.0 / per_hour)))
        if e.state not in (ACTIVE, DRAINING):
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
        yield env.timeout(float(fleet.rng.exponential(mtbf_hours * 3600.0)))
        if e.state not in (ACTIVE, DRAINING):
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
