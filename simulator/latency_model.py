"""The fast model of a replica's latency, as every command reads it.

One owner for what the compiled steady-state model says about latency: the operating
point at a rate (batch, iteration time, and the mean and percentiles of TTFT, TPOT and
e2e from :mod:`simplan.kernels.tail`), the table of those over rates that sweeps
interpolate in, and the largest rate at which every ``[slo]`` objective holds, read off
that table with each objective's own statistic (a p95 limit against the predicted p95).
``sweep --method fast``, ``plan``'s screen and the autoscaler's target all come from
here, with the constants fitted once by ``tools/fit_tail.py`` (``catalog/tail.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from simplan import catalog
from simplan import slo as slo_eval
from simplan.kernels import grid, tail
from simplan.scenario import Scenario
from simplan.workload import mean_lengths
from simplan.workload_shape import LENGTH_POINTS, arrival_cv2, length_points

#: Statistic names of the latency columns, in the kernels' order (mean, p50 ... p99).
STATS = ("mean", *(f"p{int(p)}" for p in tail.PERCENTILES))
#: Column names of an operating point (:data:`simplan.kernels.grid.OP_COLUMNS`).
COLUMNS = (
    "batch",
    "iteration_s",
    "saturated",
    *(f"{m}_{s}_s" for m in slo_eval.METRICS for s in STATS),
)


#: The fitted constants, in the order the kernels take them.
PARAMS = ("var_scale", "env_scale", "wait_scale", "ttft_env")


def column(name: str) -> int:
    """Index of a named column (``ttft_p95_s``, ``tpot_mean_s``, ``batch``...)."""
    return COLUMNS.index(name)


@dataclass
class Shapes:
    """Per configuration: mean lengths, equally likely lengths and arrival burstiness."""

    i_len: np.ndarray  # (n,)
    o_len: np.ndarray  # (n,)
    i_pts: np.ndarray  # (n, k)
    o_pts: np.ndarray  # (n, k)
    ca2: np.ndarray  # (n,)

    @classmethod
    def fixed(cls, i_len: float, o_len: float, ca2: float = 1.0, n: int = 1) -> Shapes:
        """Every request ``i_len`` prompt and ``o_len`` output tokens, for ``n`` configurations."""
        k = LENGTH_POINTS
        return cls(
            np.full(n, float(i_len)),
            np.full(n, float(o_len)),
            np.full((n, k), float(i_len)),
            np.full((n, k), float(o_len)),
            np.full(n, float(ca2)),
        )

    def take(self, mask: np.ndarray) -> Shapes:
        return Shapes(
            self.i_len[mask], self.o_len[mask], self.i_pts[mask], self.o_pts[mask], self.ca2[mask]
        )


def shapes(scenarios: Sequence[Scenario]) -> Shapes:
    """The workload shapes of several scenarios (one per configuration)."""
    lens = [mean_lengths(sc) for sc in scenarios]
    return Shapes(
        np.array([x[0] for x in lens], dtype=float),
        np.array([x[1] for x in lens], dtype=float),
        np.stack([length_points(sc, "input_tokens") for sc in scenarios]),
        np.stack([length_points(sc, "output_tokens") for sc in scenarios]),
        np.array([arrival_cv2(sc) for sc in scenarios], dtype=float),
    )


def params() -> np.ndarray:
    """The fitted constants of :func:`simplan.kernels.tail.latency_quantiles`."""
    t = catalog.tail_model()
    return np.array([t[k] for k in PARAMS], dtype=float)


def margins() -> dict[str, float]:
    """Relative error of predicted percentiles per metric (the held-out p90 of
    |fast/simulated - 1| at p95, ``tail.toml``): within it of a limit, a fast verdict is
    not verified."""
    held = catalog.tail_model().get("held_out_p95", {})
    return {m: float(held.get(f"{m}_s", {}).get("p90_abs_error", 0.0)) for m in slo_eval.METRICS}


def fast_band(metric: str) -> tuple[float, float]:
    """The 80% band of the fast model's p95 of ``metric`` (``ttft``, ``tpot``, ``e2e``)
    against the simulation: 10th and 90th percentile of fast/simulated - 1 over the
    fitted configurations (``tail.toml`` ``[tail.band_p95]``); (0, 0) where not fitted."""
    b = catalog.tail_model().get("band_p95", {}).get(f"{metric}_s", {})
    return float(b.get("p10", 0.0)), float(b.get("p90", 0.0))


def limits(scenarios: Sequence[Scenario], scale: float = 1.0) -> np.ndarray:
    """(n, tail.COLUMNS) limits per latency column, inf where no objective is set;
    ``scale`` multiplies every limit (a capacity band's stand-in for slower hardware)."""
    out = np.full((len(scenarios), tail.COLUMNS), np.inf)
    for i, sc in enumerate(scenarios):
        for o in slo_eval.objectives(sc.slo):
            out[i, column(o.key) - grid.LATENCY] = o.limit_s * scale
    return out


def capacity(cfgs: np.ndarray, sh: Shapes) -> np.ndarray:
    """(n, 2): most sequences in a batch, largest sustainable rate per replica."""
    return grid.capacity_many(np.ascontiguousarray(cfgs), sh.i_len, sh.o_len)


def table(cfgs: np.ndarray, sh: Shapes, r_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rates, values): each configuration's operating points over rates up to r_max."""
    return grid.operating_table(
        np.ascontiguousarray(cfgs), sh.i_len, sh.o_len, r_max, sh.i_pts, sh.o_pts, sh.ca2, params()
    )


def rate_under_slo(
    rates: np.ndarray, values: np.ndarray, lim: np.ndarray, r_max: np.ndarray
) -> np.ndarray:
    """Largest rate per configuration at which every objective's statistic is within its
    limit; ``r_max`` (the sustainable rate) where no objective is set."""
    under = grid.rate_under_limits(rates, values, lim)
    return np.where(np.isfinite(lim).any(axis=1), under, r_max)


def at_rate(cfgs: np.ndarray, sh: Shapes, rate: np.ndarray, r_max: np.ndarray) -> np.ndarray:
    """(n, len(COLUMNS)) operating points at the given per-replica rates."""
    return grid.operating_point_many(
        np.ascontiguousarray(cfgs),
        np.asarray(rate, dtype=float),
        sh.i_len,
        sh.o_len,
        np.asarray(r_max, dtype=float),
        sh.i_pts,
        sh.o_pts,
        sh.ca2,
        params(),
    )


@dataclass
class ReplicaModel:
    """One replica's fast model, built once: its shapes, capacity and table, so that
    several questions (the rate under a scaled SLO, the latency at a rate) share them."""

    cfg: np.ndarray
    shapes: Shapes
    r_max_per_s: float
    rates: np.ndarray  # (1, TABLE_RATES); empty when the replica sustains no load
    values: np.ndarray
    limits: np.ndarray  # (1, tail.COLUMNS), unscaled

    @classmethod
    def of(cls, cfg: np.ndarray, scenario: Scenario, sh: Shapes | None = None) -> ReplicaModel:
        """The model of ``scenario``'s replica ``cfg``; ``sh`` saves recomputing the
        workload's shapes when many replicas share one workload."""
        sh = sh if sh is not None else shapes([scenario])
        r_max = capacity(cfg[None, :], sh)[:, 1]
        rates, values = (
            table(cfg[None, :], sh, r_max) if r_max[0] > 0.0 else (np.empty(0), np.empty(0))
        )
        return cls(cfg, sh, float(r_max[0]), rates, values, limits([scenario]))

    def rate_under_slo(self, scale: float = 1.0) -> float:
        """Largest rate (req/s) meeting every objective with its limits times ``scale``."""
        if not self.r_max_per_s > 0.0:
            return 0.0
        r_max = np.array([self.r_max_per_s])
        return float(rate_under_slo(self.rates, self.values, self.limits * scale, r_max)[0])

    def at_rate(self, rate_per_s: float) -> np.ndarray:
        """The operating point (len(COLUMNS)) at a per-replica rate."""
        return at_rate(
            self.cfg[None, :], self.shapes, np.array([rate_per_s]), np.array([self.r_max_per_s])
        )[0]
