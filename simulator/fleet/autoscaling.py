"""Autoscaling: a simpy process that sizes the autoscaled pool by a named policy.

Every ``interval_s`` the policy (one function each, chosen by ``[autoscaling] policy``)
turns what it sees (:class:`ScaleContext`) into the replicas the whole fleet needs; the
autoscaled pool provides what the fixed pools do not. Scale-up starts instances at once
(each billed through its cold start); scale-down drains the least busy replicas after
``scale_down_delay_s`` below target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from simplan.engine import ACTIVE, OFF, PROVISIONING, ReplicaEngine
from simplan.fleet.lifecycle import Fleet, cold_start_s
from simplan.scenario import Scenario


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
