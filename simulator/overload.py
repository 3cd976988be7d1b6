"""When an open-loop run outgrows its fleet: stop early, measure the saturation, stay bounded.

A fleet offered more than it sustains builds a queue that grows for as long as requests
arrive, and every queued request costs memory and simulation time. Two guards keep such a
run short and its memory bounded, whatever the load:

* :func:`bound_overload`, before the run: a load far beyond the fleet's capacity (by the
  compiled model) is simulated for the first :data:`OVERLOAD_REQUESTS` requests only.
* :func:`watch_backlog`, during the run: the queue itself is watched. Once the backlog
  holds more than :data:`SATURATION_WAIT_S` of the fleet's work and is still growing
  (it grew by half or more since half the elapsed time: a queue that grows linearly
  doubles), or it reaches :data:`MAX_BACKLOG` requests, arrivals stop. The summary then
  reports the saturation (offered vs sustained rate) from the simulated window, as for
  any saturated run. A stable queue near capacity fluctuates but does not keep growing,
  so it is simulated in full.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Generator
from typing import Any

import simpy
from simplan.scenario import Scenario
from simplan.workload import peak_rate_per_s

#: An open-loop run offered more than this many requests while the fleet is overloaded is
#: shortened to this many: the saturation report needs no more, and memory stays bounded.
OVERLOAD_REQUESTS = 200_000

#: A backlog holding this much of the fleet's work (seconds at its sustainable rate) is a
#: saturated fleet if it is still growing: a request arriving now would wait that long.
SATURATION_WAIT_S = 300.0

#: Arrivals stop once this many requests are outstanding, however the backlog got there.
MAX_BACKLOG = OVERLOAD_REQUESTS // 2

#: How often (simulated seconds) the backlog is sampled; a run whose arrivals span more
#: than :data:`MAX_WATCH_SAMPLES` of these is sampled less often.
WATCH_INTERVAL_S = 10.0
MAX_WATCH_SAMPLES = 10_000


def bound_overload(scenario: Scenario, capacity_per_s: float) -> tuple[Scenario, str | None, bool]:
    """Shorten an open-loop workload that would overwhelm the fleet (and memory).

    Returns the scenario to simulate, a note when it was shortened, and whether the
    offered load is far beyond ``capacity_per_s`` (then the run drains only briefly).
    """
    w = scenario.workload
    if w.arrival not in ("poisson", "gamma", "constant") or w.rate_per_s is None:
        return scenario, None, False
    rate = peak_rate_per_s(w)
    overloaded = rate > 1.5 * capacity_per_s
    horizon = w.duration_s if w.duration_s is not None else math.inf
    expected = min(rate * horizon, float(w.num_requests or math.inf))
    if not overloaded or expected <= OVERLOAD_REQUESTS:
        return scenario, None, False  # small enough to simulate and drain in full
    new_duration = OVERLOAD_REQUESTS / rate
    short = scenario.model_copy(
        update={"workload": w.model_copy(update={"duration_s": new_duration, "num_requests": None})}
    )
    short._source_path = scenario.source_path
    note = (
        f"overload: {rate:,.0f} req/s offered against about {capacity_per_s:,.1f} req/s the "
        f"fleet sustains; simulated the first {new_duration:.3g} s ({OVERLOAD_REQUESTS:,} "
        "requests) to measure the saturation"
    )
    return short, note, True


def saturation_backlog(capacity_per_s: float) -> int:
    """The backlog (requests) beyond which a still-growing queue counts as saturation."""
    return int(min(max(100.0, capacity_per_s * SATURATION_WAIT_S), MAX_BACKLOG))


def watch_backlog(
    env: simpy.Environment,
    backlog: Callable[[], int],
    capacity_per_s: float,
    stop: Callable[[str], object],
    *,
    arrivals_done: Callable[[], bool] = lambda: False,
    interval_s: float = WATCH_INTERVAL_S,
) -> Generator[simpy.Event, Any, None]:
    """A simpy process: call ``stop(note)`` once the backlog shows the fleet is saturated.

    Samples every ``interval_s`` until ``arrivals_done()`` (then there is nothing to stop).
    """
    limit = saturation_backlog(capacity_per_s)
    times: list[float] = [env.now]
    counts: list[int] = [backlog()]
    while not arrivals_done():
        yield env.timeout(interval_s)
        now, b = env.now, backlog()
        times.append(now)
        counts.append(b)
        k = bisect.bisect_left(times, now / 2.0)
        then, b_then = times[k], counts[k]
        growing = b >= 1.5 * b_then and now - then >= 2 * interval_s
        if b >= MAX_BACKLOG or (b >= limit and growing):
            growth = (b - b_then) / max(now - then, 1e-9)
            stop(
                f"saturation: the queue grew from {b_then:,} to {b:,} requests between "
                f"{then:,.0f} s and {now:,.0f} s (about {growth:,.2f} req/s more arrive than "
                f"the fleet completes); arrivals stopped at {now:,.0f} s to report it "
                "instead of simulating a queue that only grows"
            )
            return
