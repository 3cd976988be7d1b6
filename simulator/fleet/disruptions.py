"""Disruptions: spot instances taken back by the provider, and replica failures.

Each is a simpy process per replica, drawing its intervals from the fleet's own random
stream while the replica is up (a replica that is off is neither interrupted nor fails).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from simplan.engine import DRAINING, FAILED, OFF, ReplicaEngine
from simplan.fleet.lifecycle import UP_STATES, Fleet


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
