"""Open-loop arrival processes, one function each, chosen by ``[workload] arrival``.

Each returns sorted arrival times in seconds up to a horizon or a request count, drawn
from the scenario's one ``numpy.random.Generator``; a daily cycle (``diurnal``) scales
the rate hour by hour.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from simplan.errors import ScenarioError
from simplan.scenario import (
    WorkloadSection,
)

# Open-loop arrival processes, chosen by name; each returns sorted arrival times in seconds.
ArrivalFn = Callable[[WorkloadSection, np.random.Generator, float, int | None], np.ndarray]


@dataclass
class Requests:
    """The open-loop request stream: arrival times and token lengths."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray  # generated: the visible answer plus any hidden reasoning
    reasoning_tokens: np.ndarray | None = None  # the hidden part (None: none)
    prefix_id: np.ndarray | None = None  # shared prefix each prompt starts with (None: none)

    def __len__(self) -> int:
        return int(self.arrival_s.shape[0])


#: More requests than this in one run is refused up front (memory would run out first).
MAX_REQUESTS = 20_000_000


def _count(rate: float, horizon_s: float, num: int | None) -> int:
    """Draws needed to cover ``horizon_s`` at ``rate`` (with margin), capped by ``num``."""
    n = num if num is not None else 0
    if math.isfinite(horizon_s):
        mean = rate * horizon_s
        by_horizon = math.ceil(mean * 1.2 + 10 * math.sqrt(mean) + 10)
        n = min(n, by_horizon) if num is not None else by_horizon
    if n > MAX_REQUESTS:
        raise ScenarioError(
            f"the workload asks for about {n:,} requests; simplan simulates at most "
            f"{MAX_REQUESTS:,} per run (shorten workload.duration_s or lower rate_per_s; "
            "use `simplan sweep --method fast` for extreme loads)"
        )
    return n


def _truncate(times: np.ndarray, horizon_s: float, num: int | None) -> np.ndarray:
    """Arrivals stop at whichever comes first: ``num`` requests or ``horizon_s``."""
    if num is not None:
        times = times[:num]
    return times[times < horizon_s]


def poisson_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Poisson arrivals; with ``diurnal`` a non-homogeneous process by thinning."""
    assert w.rate_per_s is not None
    if w.diurnal is None:
        n = _count(w.rate_per_s, horizon_s, num)
        return _truncate(np.cumsum(rng.exponential(1.0 / w.rate_per_s, n)), horizon_s, num)
    mult = np.asarray(w.diurnal, dtype=float)
    target = num if num is not None else MAX_REQUESTS + 1
    _count(w.rate_per_s * float(mult.mean()), horizon_s, num)  # refuse absurd sizes first
    kept: list[np.ndarray] = []
    total, t0, hours = 0, 0.0, 0
    # hour by hour: a Poisson count at that hour's rate, spread uniformly over the hour
    # (work in proportion to requests and hours, however quiet the night is)
    while total < target and t0 < horizon_s and hours < MAX_DIURNAL_HOURS:
        end = min((math.floor(t0 / 3600.0) + 1) * 3600.0, horizon_s)
        lam = w.rate_per_s * mult[int(t0 // 3600.0) % 24] * (end - t0)
        k = int(rng.poisson(lam)) if lam > 0 else 0
        if total + k > MAX_REQUESTS:
            _count(0.0, math.inf, total + k)
        if k:
            kept.append(np.sort(rng.uniform(t0, end, k)))
            total += k
        t0, hours = end, hours + 1
    return _truncate(np.concatenate(kept) if kept else np.zeros(0), horizon_s, num)


#: A diurnal process without a duration stops after ten years of simulated hours.
MAX_DIURNAL_HOURS = 24 * 3660


def gamma_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Renewal process with gamma inter-arrival times; ``burstiness`` is their squared CV."""
    assert w.rate_per_s is not None
    shape = 1.0 / w.burstiness
    scale = 1.0 / (w.rate_per_s * shape)
    n = _count(w.rate_per_s, horizon_s, num)
    return _truncate(np.cumsum(rng.gamma(shape, scale, n)), horizon_s, num)


def constant_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Evenly spaced arrivals at ``rate_per_s``."""
    assert w.rate_per_s is not None
    n = _count(w.rate_per_s, horizon_s, num)
    return _truncate((np.arange(n) + 1.0) / w.rate_per_s, horizon_s, num)


def offline_arrivals(
    w: WorkloadSection, rng: np.random.Generator, horizon_s: float, num: int | None
) -> np.ndarray:
    """Every request queued at t = 0 (the engines' "max load" benchmark)."""
    assert num is not None
    _count(0.0, 0.0, num)
    return np.zeros(num)


ARRIVALS: dict[str, ArrivalFn] = {
    "poisson": poisson_arrivals,
    "gamma": gamma_arrivals,
    "constant": constant_arrivals,
    "offline": offline_arrivals,
}
