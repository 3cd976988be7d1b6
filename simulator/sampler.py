"""The time-series sampler: a simpy process reading every replica's accumulators.

Samples are cumulative (busy seconds, tokens, FLOPs, bytes, billed dollars) or levels
(running, waiting, KV blocks, state); :mod:`simplan.metrics` differences the cumulative
ones into rates per interval.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy
from simplan.engine import ReplicaEngine
from simplan.fleet import Fleet
from simplan.recorder import TimeSeries

#: Most time-series samples per run; the interval widens for long runs.
MAX_SAMPLES = 4000


def sample_now(
    env: simpy.Environment, engines: list[ReplicaEngine], series: TimeSeries, fleet: Fleet
) -> None:
    """Append one sample of every replica (and the fleet's API cost and backlog) now."""
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
        busy_s=busy,
        running=np.array([e.n_running for e in engines], dtype=float),
        waiting=np.array([len(e.waiting) for e in engines], dtype=float),
        kv_blocks_used=np.array([e.blocks_used() for e in engines], dtype=float),
        kv_blocks_cached=np.array([e.cached_blocks() for e in engines], dtype=float),
        output_tokens=np.array([e.output_tokens for e in engines], dtype=float),
        input_tokens=np.array([e.input_tokens for e in engines], dtype=float),
        flops=np.array([e.flops for e in engines]),
        bytes=np.array([e.bytes for e in engines]),
        state=np.array([e.state for e in engines], dtype=float),
        billed_usd=billed,
    )
    series.fleet_rows["api_usd"].append(fleet.api_usd)
    series.fleet_rows["backlog"].append(float(len(fleet.backlog)))


def sampler(
    env: simpy.Environment,
    engines: list[ReplicaEngine],
    series: TimeSeries,
    interval: float,
    fleet: Fleet,
) -> Generator[simpy.Event, Any, None]:
    """Sample every ``interval`` seconds (less often once a run outlasts its estimate)."""
    while True:
        sample_now(env, engines, series, fleet)
        # a run that outlasts its expected end samples less often, keeping MAX_SAMPLES
        yield env.timeout(max(interval, env.now / MAX_SAMPLES))
