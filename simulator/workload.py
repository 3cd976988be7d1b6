"""Workload generation: the request stream of a scenario, token lengths, rates and means.

Arrival processes are in :mod:`simplan.arrivals`, trace and length files in
:mod:`simplan.traces`.

Everything draws from one ``numpy.random.Generator`` seeded by the scenario, so the
same scenario and seed give the same requests.
"""

from __future__ import annotations

import math

import numpy as np
from simplan.arrivals import ARRIVALS, Requests
from simplan.scenario import (
    EmpiricalLength,
    FixedLength,
    NormalLength,
    Scenario,
    UniformLength,
    WorkloadSection,
)
from simplan.traces import read_column, read_trace

# --- token lengths ---------------------------------------------------------------------


def sample_lengths(
    spec: object, n: int, rng: np.random.Generator, scenario: Scenario, key: str, cap: int
) -> np.ndarray:
    """Draw ``n`` token lengths from a length spec (a number or a distribution table)."""
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    if isinstance(spec, FixedLength):
        return np.full(n, spec.value, dtype=np.int64)
    if isinstance(spec, UniformLength):
        return rng.integers(spec.low, spec.high + 1, n).astype(np.int64)
    if isinstance(spec, NormalLength):
        hi = spec.max if spec.max is not None else cap
        if spec.distribution == "normal":
            x = rng.normal(spec.mean, spec.std, n)
        else:
            # lognormal with the given mean and standard deviation of the length itself
            sigma2 = math.log1p((spec.std / spec.mean) ** 2)
            mu = math.log(spec.mean) - sigma2 / 2.0
            x = rng.lognormal(mu, math.sqrt(sigma2), n)
        return np.clip(np.rint(x), spec.min, max(hi, spec.min)).astype(np.int64)
    if isinstance(spec, EmpiricalLength):
        values = read_column(scenario.resolve_path(spec.path), spec.column, f"workload.{key}.path")
        return rng.choice(values, n, replace=True).astype(np.int64)
    raise TypeError(f"unknown length spec {spec!r}")


def busiest_hour(w: WorkloadSection) -> int | None:
    """Hour of the day (0-23) with the highest ``diurnal`` multiplier; None without one.

    This is the hour every command judges a daily cycle's SLO at and sizes fleets for.
    """
    if not w.diurnal:
        return None
    return int(np.argmax(np.asarray(w.diurnal, dtype=float)))


def diurnal_multipliers(w: WorkloadSection) -> tuple[float, float]:
    """(busiest hour's, day's mean) multiplier of ``rate_per_s``; (1, 1) without a cycle."""
    if not w.diurnal:
        return 1.0, 1.0
    return float(max(w.diurnal)), float(np.mean(w.diurnal))


def peak_rate_per_s(w: WorkloadSection) -> float:
    """The offered request rate at the busiest hour (the rate itself without a cycle)."""
    return float(w.rate_per_s or 0.0) * diurnal_multipliers(w)[0]


def mean_rate_per_s(w: WorkloadSection) -> float:
    """The offered request rate averaged over the day (the rate itself without a cycle)."""
    return float(w.rate_per_s or 0.0) * diurnal_multipliers(w)[1]


def mean_length(scenario: Scenario, key: str) -> float:
    """The mean of ``workload.<key>`` (``input_tokens`` or ``output_tokens``), in tokens."""
    return length_mean(scenario, getattr(scenario.workload, key), key)


def length_mean(scenario: Scenario, spec: object, key: str) -> float:
    """The mean of a length spec found at ``workload.<key>``."""
    if isinstance(spec, int):
        return float(spec)
    if isinstance(spec, FixedLength):
        return float(spec.value)
    if isinstance(spec, UniformLength):
        return (spec.low + spec.high) / 2.0
    if isinstance(spec, NormalLength):
        return float(spec.mean)
    if isinstance(spec, EmpiricalLength):
        values = read_column(scenario.resolve_path(spec.path), spec.column, f"workload.{key}.path")
        return float(values.mean())
    raise TypeError(f"unknown length spec {spec!r}")


def mean_lengths(scenario: Scenario) -> tuple[float, float]:
    """Mean (input, output) tokens per request of a scenario's workload: input is the whole
    prompt (any shared prefix included); output counts every generated token, hidden
    reasoning included (it is decoded and billed alike)."""
    w = scenario.workload
    out = mean_length(scenario, "output_tokens")
    if w.reasoning_tokens is not None:
        out += mean_length(scenario, "reasoning_tokens")
    first = mean_length(scenario, "input_tokens") + float(w.prefix_tokens)
    if w.sessions is not None:  # later turns repeat the conversation so far
        # sessions.py draws its turns with this module's samplers: imported here, not at
        # the top, so that the two can import each other
        from simplan.sessions import mean_session_prompt

        return mean_session_prompt(scenario, first, out)[0], out
    return first, out


def reuses_prompts(scenario: Scenario) -> bool:
    """Whether requests repeat earlier prompt tokens (shared prefixes, or sessions whose
    later turns repeat the conversation): what a prefix cache can reuse."""
    w = scenario.workload
    return w.shared_prefix_tokens is not None or w.sessions is not None


def prefix_weights(w: WorkloadSection) -> np.ndarray:
    """Probability of each shared prefix (empty without shared prefixes)."""
    if w.shared_prefix_tokens is None:
        return np.zeros(0)
    raw = np.asarray(w.shared_prefix_weights or np.ones(w.num_shared_prefixes), dtype=float)
    return raw / raw.sum()


def sample_prefixes(scenario: Scenario, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """The shared prefix each of ``n`` prompts starts with (None without shared prefixes),
    drawn after every other length so a workload without them draws as it always did."""
    p = prefix_weights(scenario.workload)
    if not p.size:
        return None
    return rng.choice(p.size, size=n, p=p).astype(np.int64)


def sample_generated(
    scenario: Scenario, n: int, rng: np.random.Generator, cap: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """(generated, reasoning) tokens of ``n`` requests: the visible answer plus, for a
    reasoning workload, the hidden reasoning drawn after it (None without reasoning, so a
    workload without it draws exactly what it always did)."""
    w = scenario.workload
    out = sample_lengths(w.output_tokens, n, rng, scenario, "output_tokens", cap)
    if w.reasoning_tokens is None:
        return out, None
    hidden = sample_lengths(w.reasoning_tokens, n, rng, scenario, "reasoning_tokens", cap)
    return out + hidden, hidden


def generate_requests(scenario: Scenario, rng: np.random.Generator, context_cap: int) -> Requests:
    """The open-loop request stream of a scenario (every arrival kind except ``closed``)."""
    w = scenario.workload
    if w.arrival == "trace":
        assert w.trace is not None
        reqs = read_trace(scenario.resolve_path(w.trace))
        if w.num_requests is not None:
            reqs = Requests(
                reqs.arrival_s[: w.num_requests],
                reqs.input_tokens[: w.num_requests],
                reqs.output_tokens[: w.num_requests],
                None,
            )
        if w.duration_s is not None:
            keep = reqs.arrival_s < w.duration_s
            reqs = Requests(reqs.arrival_s[keep], reqs.input_tokens[keep], reqs.output_tokens[keep])
        return reqs
    horizon = w.duration_s if w.duration_s is not None else math.inf
    times = ARRIVALS[w.arrival](w, rng, horizon, w.num_requests)
    n = times.shape[0]
    inp = sample_lengths(w.input_tokens, n, rng, scenario, "input_tokens", context_cap)
    out, hidden = sample_generated(scenario, n, rng, context_cap)
    prefix = sample_prefixes(scenario, n, rng)
    if prefix is not None:
        inp = inp + w.prefix_tokens
    return Requests(times, inp, out, hidden, prefix)
