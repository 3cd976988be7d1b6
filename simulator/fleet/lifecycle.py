"""The fleet's replicas through their lifecycle, and what each is billed.

A replica is off, provisioning (a cold start: billed, not serving), active, draining (no
new requests; stops once its last one finishes) or failed. :class:`Fleet` moves replicas
between those states (the engine keeps only its current state and since when) and bills
each by the second for the states a provider charges for (every state but off; reserved
replicas for the whole run). Routing, the overflow API, autoscaling and disruptions are
the package's other modules; the fleet holds one router and forwards to it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from simplan.engine import ACTIVE, DRAINING, FAILED, OFF, PROVISIONING, ReplicaEngine
from simplan.fleet.overflow import Overflow
from simplan.fleet.routing import Router
from simplan.kernels import layout as c
from simplan.kernels.memory import weight_bytes_per_gpu
from simplan.recorder import Recorder
from simplan.scenario import AutoscalingSection, Scenario

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
    provisioned: int = 0
    interruptions: int = 0
    failures: int = 0
    cold_start_s: list[float] = field(default_factory=list)


def cold_start_s(engine: ReplicaEngine, autoscaling: AutoscalingSection) -> float:
    """Instance start plus loading the replica's weights at the storage bandwidth."""
    weights = weight_bytes_per_gpu(engine.cfg) * engine.cfg[c.TP] * engine.cfg[c.PP]
    return autoscaling.instance_start_s + weights / (autoscaling.storage_gb_per_s * 1e9)


class Fleet:
    """Replica engines, their lifecycle and billing; requests go through its router."""

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
        self.counters = FleetCounters()
        self.rng = np.random.default_rng([seed, 7919])  # its own stream: same arrivals
        self.autoscaling = scenario.autoscaling or AutoscalingSection()
        self.overflow = Overflow.of(env, scenario, rec, self.rng)
        self.router = Router(env, scenario, engines, rec, context, self.overflow)
        self.arrivals = 0  # dispatches of new requests
        # replica index -> event that fires when that replica is next up (active/draining)
        self._up_events: dict[int, simpy.Event] = {}
        # every replica's lifecycle: (time, state) at construction and at each change
        self.state_log: list[list[tuple[float, int]]] = [[(env.now, e.state)] for e in engines]
        for e in engines:
            e.on_drained = self.stop
            if e.role == "prefill":
                e.on_prefilled = self.router.hand_off

    # --- what the router and the autoscaler see ----------------------------------------

    def route(self, req: int) -> None:
        """Send a new request into the fleet (:meth:`Router.route`)."""
        self.router.route(req)

    def active(self) -> list[ReplicaEngine]:
        return self.router.active()

    @property
    def backlog(self) -> deque[int]:
        """Requests waiting for a replica to become active."""
        return self.router.backlog

    @property
    def self_hosted_arrivals(self) -> int:
        """Requests routed to the fleet rather than the overflow API (the autoscaler's rate)."""
        return self.router.self_hosted_arrivals

    @property
    def api_usd(self) -> float:
        """What the overflow API has cost so far."""
        return self.overflow.served.usd if self.overflow is not None else 0.0

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
        self.router.flush()

    def provision(self, e: ReplicaEngine) -> None:
        """Start a new instance: billed from now, active after its cold start."""
        delay = cold_start_s(e, self.autoscaling)
        self.counters.provisioned += 1
        self.counters.cold_start_s.append(delay)
        self.set_state(e, PROVISIONING)
        self.env.process(self._ready(e, delay))

    def _ready(self, e: ReplicaEngine, delay_s: float) -> Generator[simpy.Event, Any, None]:
        yield self.env.timeout(delay_s)
        if e.state == PROVISIONING:
            self.activate(e)

    def drain(self, e: ReplicaEngine) -> None:
        """Stop routing to a replica; it stops (and stops billing) once its work is done."""
        self.set_state(e, DRAINING)
        if e.outstanding() == 0:
            e.halt("drained")
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
