"""A server benchmark: the highest request rate whose latency tails meet stated limits.

MLPerf Inference's Server scenario sends Poisson arrivals and reports the throughput at
the highest rate whose 99th-percentile time to first token and time per output token
stay within the benchmark's limits. simplan searches that rate the same way: by
bisection between no load and the rate the fleet sustains offline, simulating each trial
rate to its last request with the limits as the scenario's ``[slo]``, so the one SLO
evaluator (:mod:`simplan.slo`, the summary's ``slo_met``) judges every trial.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Bisections of the rate: the highest passing rate is found within 1/2**7 (under 1%)
#: of the offline rate.
BISECTIONS = 7


def highest_rate_meeting(
    summary_at: Callable[[float, dict[str, float]], dict[str, Any]],
    *,
    capacity_per_s: float,
    ttft_p99_s: float,
    tpot_p99_s: float,
) -> dict[str, Any] | str:
    """The run summary at the highest rate (requests/s, below ``capacity_per_s``) whose
    p99 TTFT and p99 TPOT are within the limits, or the reason none is.

    ``summary_at(rate, slo)`` simulates the rate with ``slo`` as the scenario's ``[slo]``
    table and returns the run's summary."""
    if capacity_per_s <= 0:
        return "the fleet completes no request offline"
    slo = {"ttft_p99_s": ttft_p99_s, "tpot_p99_s": tpot_p99_s}
    lo, hi = 0.0, capacity_per_s
    best: dict[str, Any] | None = None
    for _ in range(BISECTIONS):
        rate = (lo + hi) / 2.0
        summary = summary_at(rate, slo)
        if "error" in summary:
            return str(summary["error"])
        if summary["slo_met"] and not summary["requests_rejected"]:
            lo, best = rate, summary
        else:
            hi = rate
    if best is None:
        return (
            f"no rate above {hi:.3g} requests/s meets p99 TTFT <= {ttft_p99_s:g} s and "
            f"p99 TPOT <= {tpot_p99_s:g} s"
        )
    return best
