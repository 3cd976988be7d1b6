"""The one SLO evaluator: every ``[slo]`` objective, for simulations and the fast model.

An objective is a metric (``ttft``, ``tpot``, ``e2e``), a statistic (``mean`` or a
percentile ``pNN``) and a limit in seconds. A percentile limit is compared with that
percentile of the simulated requests, never with a mean:

* :func:`evaluate` judges samples (a run's requests in its window, or the busiest hour's);
* :func:`hourly` judges each hour of the day of a daily cycle;
* :func:`fast_status` judges the fast model's predicted statistics (the same mean or
  percentile as each objective, :mod:`simplan.latency_model`); a percentile within the
  model's measured error of its limit is *not verified*: ``plan`` settles it by
  simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from simplan.workload import busiest_hour

if TYPE_CHECKING:
    from simplan.scenario import SloSection

PERCENTILES = (50, 90, 95, 99)
METRICS = ("ttft", "tpot", "e2e")

#: ``slo_status`` codes of fast evaluations (CF flag values).
STATUS = {0: "met", 1: "missed", 2: "not_verified"}
MET, MISSED, NOT_VERIFIED = 0, 1, 2


@dataclass(frozen=True)
class Objective:
    metric: str
    stat: str
    limit_s: float

    @property
    def key(self) -> str:
        return f"{self.metric}_{self.stat}_s"

    @property
    def percentile(self) -> float | None:
        return None if self.stat == "mean" else float(self.stat[1:])


def objectives(slo: SloSection) -> list[Objective]:
    """The objectives a scenario sets, in a fixed order."""
    return [Objective(m, s, v) for (m, s), v in slo.objectives().items()]


def statistic(values: np.ndarray, stat: str) -> float | None:
    """The mean or a percentile (``pNN``) of finite values; None when there are none."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    return float(np.mean(v)) if stat == "mean" else float(np.percentile(v, float(stat[1:])))


def summary_stats(values: np.ndarray) -> dict[str, float | None]:
    """Mean and the reported percentiles of finite values."""
    return {
        "mean": statistic(values, "mean"),
        **{f"p{p}": statistic(values, f"p{p}") for p in PERCENTILES},
    }


def evaluate(samples: Mapping[str, np.ndarray], objs: list[Objective]) -> dict[str, Any]:
    """Each objective's limit, achieved statistic and verdict over per-request samples.

    ``samples`` maps ``ttft_s``/``tpot_s``/``e2e_s`` to the values of the requests judged.
    An objective with no samples is not met.
    """
    out: dict[str, Any] = {}
    for o in objs:
        achieved = statistic(samples[f"{o.metric}_s"], o.stat)
        out[o.key] = {
            "limit": o.limit_s,
            "achieved": achieved,
            "met": achieved is not None and achieved <= o.limit_s,
        }
    return out


def all_met(verdicts: Mapping[str, Any]) -> bool | None:
    """Whether every objective is met (None without objectives)."""
    return all(v["met"] for v in verdicts.values()) if verdicts else None


def requests_meeting_all(samples: Mapping[str, np.ndarray], objs: list[Objective]) -> np.ndarray:
    """Per request: whether each of its own latencies is within every limit (attainment).

    A value that does not apply (TPOT of a one-token answer) does not count against it.
    """
    n = len(next(iter(samples.values()))) if samples else 0
    ok = np.ones(n, dtype=bool)
    for o in objs:
        v = np.asarray(samples[f"{o.metric}_s"], dtype=float)
        ok &= np.nan_to_num(v, nan=0.0) <= o.limit_s
    return ok


def hour_of_day(time_s: Any) -> np.ndarray:
    """Hour of the day (0-23) of simulated times, as the ``diurnal`` profile counts them."""
    return (np.asarray(time_s, dtype=float) // 3600.0).astype(np.int64) % 24


def hourly(
    samples: Mapping[str, np.ndarray], arrival_s: np.ndarray, objs: list[Objective]
) -> list[dict[str, Any]]:
    """Per hour of the day (by arrival): requests, attainment and whether every objective
    holds over that hour's requests (across days). Hours without requests are omitted."""
    hour = hour_of_day(arrival_s)
    meets = requests_meeting_all(samples, objs)
    out = []
    for h in range(24):
        m = hour == h
        if not m.any():
            continue
        verdicts = evaluate({k: np.asarray(v)[m] for k, v in samples.items()}, objs)
        out.append(
            {
                "hour": h,
                "requests": int(m.sum()),
                "attainment": float(meets[m].mean()),
                "met": all_met(verdicts),
            }
        )
    return out


def fast_status(
    stats: Mapping[str, Any],
    limits: Mapping[str, Any],
    margins: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Verdicts (:data:`STATUS` codes) from the fast model's predicted statistics.

    ``stats`` and ``limits`` map objective keys (``ttft_p95_s``...) to the predicted
    statistic and its limit (inf where an objective is not set; arrays broadcast, so
    each point may carry its own SLO). A mean objective is met or missed. A percentile
    is compared with the predicted percentile; within the model's error ``margins[metric]``
    (relative, per ``ttft``/``tpot``/``e2e``) of its limit it is *not verified*:
    ``plan`` settles those by simulation. A NaN prediction counts as missed.
    """
    arrays = [np.asarray(v, dtype=float) for v in (*stats.values(), *limits.values())]
    status = np.full(np.broadcast_shapes(*(a.shape for a in arrays)), MET, dtype=np.int8)
    unsure = np.zeros(status.shape, dtype=bool)
    for key, lim in limits.items():
        o = _parse_key(key)
        limit = np.asarray(lim, dtype=float)
        value = np.asarray(stats[key], dtype=float)
        active = np.isfinite(limit)
        m = 0.0 if o.percentile is None or margins is None else margins.get(o.metric, 0.0)
        with np.errstate(invalid="ignore"):
            missed = active & ~(value <= limit * (1.0 + m))
            unsure |= active & ~missed & ~(value * (1.0 + m) <= limit)
        status = np.where(missed, MISSED, status)
    status = np.where(unsure & (status == MET), NOT_VERIFIED, status)
    return status.astype(np.int8)


def objective_keys() -> list[str]:
    """Every objective key a scenario may set, in a fixed order."""
    return [f"{m}_{s}_s" for m in METRICS for s in ("mean", *(f"p{p}" for p in PERCENTILES))]


def _parse_key(key: str) -> Objective:
    metric, stat, _ = key.split("_")
    return Objective(metric, stat, np.inf)


def judge_run(
    sc: Any, table: dict[str, np.ndarray], arrival: np.ndarray, in_window: np.ndarray
) -> dict[str, Any]:
    """The SLO verdicts of a run: over its window, or for a daily cycle over the requests
    that arrived in the busiest hour of the day (the load plan and sweep size for), with
    every hour's attainment beside it."""
    objs = objectives(sc.slo)
    samples = {k: table[k][in_window] for k in ("ttft_s", "tpot_s", "e2e_s")}
    peak = busiest_hour(sc.workload)
    hours = hourly(samples, arrival[in_window], objs) if peak is not None else []
    judged_on = "the measurement window"
    if peak is not None and any(h["hour"] == peak for h in hours):
        at_peak = hour_of_day(arrival[in_window]) == peak
        samples = {k: v[at_peak] for k, v in samples.items()}
        judged_on = f"the busiest hour of the day ({peak:02d}:00-{peak + 1:02d}:00)"
    return {
        "objectives": objs,
        "verdicts": evaluate(samples, objs),
        "judged_on": judged_on,
        "hourly": hours,
    }
