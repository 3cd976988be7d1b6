"""The fleet's accounting after a run: cost by pricing mode, and the capacity it had up.

Read by :mod:`simplan.metrics`; a run's billed hours and the denominators of MFU, MBU and
utilization for an elastic fleet come from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from simplan.fleet.lifecycle import UP_STATES, Fleet
from simplan.fleet.overflow import ApiCounters
from simplan.kernels import layout as c


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
    by_part["api"] = fleet.api_usd
    k = fleet.counters
    api = fleet.overflow.served if fleet.overflow is not None else ApiCounters()
    return {
        "fleet_cost_usd": by_part["on_demand"] + by_part["reserved"] + by_part["spot"],
        "cost_by_part_usd": by_part,
        "replica_hours": replica_hours,
        "availability": active_s / (active_s + failed_s) if active_s + failed_s > 0 else 1.0,
        "requests_requeued": k.requeued,
        "requests_retried": k.retried,
        "requests_to_api": api.requests,
        "api_input_tokens": api.input_tokens,
        "api_output_tokens": api.output_tokens,
        "requests_kept_by_api_rate_limit": api.rate_limited,
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
