"""The fast evaluator: the compiled steady-state model over a sweep grid, block by block.

Axes that change the replica (model, GPU, parallelism, engine, lengths) define groups;
:func:`prepare_fast` validates and tabulates each group once (capacity, and its
operating point over a grid of rates). :meth:`FastGrid.evaluate` then computes any
contiguous range of grid points as interpolations in their group's table, with the
cheap axes (rate, replicas, pricing) broadcast in numpy. Memory is bounded by the range,
not the grid, so a grid of tens of millions of points is evaluated in blocks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from simplan import economics as econ
from simplan import latency_model
from simplan import slo as slo_eval
from simplan.errors import ContextError, SimplanError
from simplan.feasibility import check_workload
from simplan.fit import replica_cfg
from simplan.job import is_job
from simplan.kernels.grid import (
    OP_COLUMNS,
    TABLE_RATES,
    interpolate_points,
    saturation_kinds,
)
from simplan.scenario import Scenario, trial_scenario
from simplan.sweep.grid import (
    CHEAP_AXES,
    VARIABLES,
    Axis,
    api_costs_usd,
    api_limit_use,
    point_scenario,
)
from simplan.workload import diurnal_multipliers

#: Variables that stay defined at infeasible points (prices and the volume priced).
_ALWAYS_DEFINED = (
    "fleet_usd_per_hour",
    "monthly_cost_usd",
    "monthly_tokens",
    "tokens_per_request",
    "input_share",
    "cached_input_share",
    "replica_usd_per_hour",
    "busiest_rate_per_s",
)


#: Points evaluated at once: the numpy temporaries of a part stay in cache (twice as fast
#: as one pass over a million points).
EVAL_POINTS = 1 << 16


@dataclass
class _Cheap:
    """A cheap axis's values as a typed array (or the scenario's one value)."""

    axis: int | None
    values: np.ndarray

    def take(self, index: tuple[np.ndarray, ...], n: int) -> np.ndarray:
        if self.axis is None:
            return np.full(n, self.values[0], dtype=self.values.dtype)
        return self.values[index[self.axis]]


@dataclass
class FastGrid:
    """Everything the fast model needs per group, and the cheap axes as arrays."""

    shape: tuple[int, ...]
    expensive: list[int]
    exp_shape: tuple[int, ...]
    group_reason: np.ndarray  # (G,) int8: 0 or a reason code (simplan.sweep.REASONS)
    cap: np.ndarray  # (G, 3): batch limit, r_max, rate under the SLO (per replica)
    rates_tab: np.ndarray
    values_tab: np.ndarray
    i_len: np.ndarray  # (G,) mean lengths
    o_len: np.ndarray
    cached_share: np.ndarray  # (G,) share of input an API bills at its cached price
    limits: dict[str, np.ndarray]  # objective key -> (G,) limit (inf where none)
    peak_mult: np.ndarray  # (G,) multipliers of the daily cycle
    mean_mult: np.ndarray
    fixed_monthly: np.ndarray  # (G,) workload.monthly_tokens (NaN where not set)
    gpus_per_replica: np.ndarray  # (G,)
    price_table: np.ndarray  # (G, modes): USD per GPU-hour
    own_gpu: np.ndarray  # (G,) the group's GPU is the written pool's
    rate: _Cheap
    replicas: _Cheap
    mode: _Cheap  # index into the price table's modes
    own_mode: _Cheap  # the pricing mode is the written pool's
    override: _Cheap  # a price override (NaN where none)
    apis: list[econ.ApiQuote]
    #: Operating-point columns a point needs (interpolating only those keeps the fast
    #: path at its speed): saturation, the means, the p95s and every objective's statistic
    columns: tuple[str, ...] = ()
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def evaluate(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Every variable at the grid points ``start:stop`` (flat C order)."""
        out: dict[str, np.ndarray] = {}
        for a in range(start, stop, EVAL_POINTS):
            b = min(a + EVAL_POINTS, stop)
            part = self._evaluate(a, b)
            if not out:
                out = {k: np.empty((stop - start, *v.shape[1:]), v.dtype) for k, v in part.items()}
            for k, v in part.items():
                out[k][a - start : b - start] = v
        return out

    def _evaluate(self, start: int, stop: int) -> dict[str, np.ndarray]:
        col = {name: q for q, name in enumerate(self.columns)}.__getitem__
        n = stop - start
        index = np.unravel_index(np.arange(start, stop), self.shape)
        group = (
            np.ravel_multi_index(tuple(index[i] for i in self.expensive), self.exp_shape)
            if self.expensive
            else np.zeros(n, dtype=np.intp)
        )
        reason = self.group_reason[group].copy()
        rate = self.rate.take(index, n)
        replicas = self.replicas.take(index, n)
        # price per GPU-hour (simplan.economics.gpu_price): a [hardware] override prices
        # only the written pool's GPU in its pricing mode; a swept override replaces it there
        gpu_price = self.price_table[group, self.mode.take(index, n)]
        override = self.override.take(index, n)
        use_override = self.own_gpu[group] & self.own_mode.take(index, n) & ~np.isnan(override)
        gpu_price = np.where(use_override, override, gpu_price)
        gpus_per_replica = self.gpus_per_replica[group]
        i_len, o_len = self.i_len[group], self.o_len[group]
        r_max_g = self.cap[:, 1]
        r_max = r_max_g[group]
        # latency and the SLO at the busiest hour; volume and cost over the day
        per_replica = rate * self.peak_mult[group] / replicas
        op = interpolate_points(
            self.rates_tab, self.values_tab, group, per_replica, r_max_g, self.kinds
        )

        fleet_usd = replicas * gpus_per_replica * gpu_price
        served = np.minimum(per_replica, r_max) * replicas
        share = i_len / (i_len + o_len)
        monthly_tokens = econ.monthly_volume_tokens(
            self.fixed_monthly[group], rate * self.mean_mult[group] * (i_len + o_len)
        )
        monthly_cost = econ.monthly_cost_usd(fleet_usd)
        with np.errstate(divide="ignore", invalid="ignore"):
            out: dict[str, np.ndarray] = {
                "output_tokens_per_s": served * o_len,
                "input_tokens_per_s": served * i_len,
                "tokens_per_request": i_len + o_len,
                "input_share": share,
                "cached_input_share": self.cached_share[group],
                "replica_usd_per_hour": gpus_per_replica * gpu_price,
                "ttft_p95_s": op[:, col("ttft_p95_s")],
                "tpot_p95_s": op[:, col("tpot_p95_s")],
                "fleet_usd_per_hour": fleet_usd,
                "usd_per_mtok_output": econ.usd_per_mtok(
                    monthly_cost, monthly_tokens * (1 - share)
                ),
                "usd_per_mtok_total": econ.usd_per_mtok(monthly_cost, monthly_tokens),
                "monthly_cost_usd": monthly_cost,
                "monthly_tokens": monthly_tokens,
                "ttft_s": op[:, col("ttft_mean_s")],
                "tpot_s": op[:, col("tpot_mean_s")],
                "e2e_s": op[:, col("e2e_mean_s")],
                "utilization": np.minimum(per_replica / np.where(r_max > 0, r_max, np.nan), 1.0),
                "max_rate_per_s": r_max * replicas,
                "max_rate_under_slo_per_s": self.cap[group, 2] * replicas,
                "busiest_rate_per_s": rate * self.peak_mult[group],
            }
        reason[(op[:, col("saturated")] > 0.5) & (reason == 0)] = 3  # saturated
        status = slo_eval.fast_status(
            {k: op[:, col(k)] for k in self.limits},
            {k: v[group] for k, v in self.limits.items()},
            latency_model.margins(),
        )
        out["slo_status"] = np.where(reason == 0, status, slo_eval.MISSED).astype(np.int8)
        out["slo_met"] = out["slo_status"] == slo_eval.MET
        out["reason"] = reason
        no_replica = (reason == 1) | (reason == 2) | (reason == 5)
        for name in VARIABLES:
            if name not in _ALWAYS_DEFINED:
                mask = no_replica if name == "max_rate_per_s" else reason != 0
                out[name] = np.where(mask, np.nan, out[name])
        out["feasible"] = reason == 0
        if self.apis:
            out["api_monthly_cost_usd"] = api_costs_usd(
                self.apis, monthly_tokens, share, self.cached_share[group]
            )
            out["api_rate_limit_use"] = api_limit_use(
                self.apis, out["busiest_rate_per_s"], i_len + o_len, share, self.cached_share[group]
            )
        return out


def evaluate_range(grid: FastGrid, start: int, stop: int) -> dict[str, np.ndarray]:
    """``grid.evaluate(start, stop)`` as a plain function (a Dask task)."""
    return grid.evaluate(start, stop)


def _cheap(
    axes: list[Axis], key: str, default: Any, convert: Any = lambda v: v, dtype: Any = float
) -> _Cheap:
    for i, a in enumerate(axes):
        if a.key == key:
            return _Cheap(i, np.array([convert(v) for v in a.values], dtype=dtype))
    return _Cheap(None, np.array([convert(default)], dtype=dtype))


def prepare_fast(raw: dict[str, Any], axes: list[Axis], source: str) -> FastGrid:
    """Validate and tabulate every group of the grid (see the module docstring)."""
    shape = tuple(len(a.values) for a in axes)
    expensive = [i for i, a in enumerate(axes) if a.key not in CHEAP_AXES]
    exp_shape = tuple(shape[i] for i in expensive)
    reps: list[Scenario] = []
    cfgs: list[np.ndarray] = []
    group_reason: list[int] = []
    limits: list[dict[str, float]] = []  # each group's objectives: key -> limit
    load: list[tuple[float, float]] = []  # (peak, mean) multipliers of the daily cycle
    for gidx in itertools.product(*(range(k) for k in exp_shape)):
        idx = [0] * len(axes)
        for k, i in enumerate(expensive):
            idx[i] = gidx[k]
        sc = point_scenario(raw, axes, tuple(idx), source)
        cfg, why = replica_cfg(sc)
        try:
            check_workload(sc)  # the same check every command applies (simplan.feasibility)
        except ContextError:
            why = why or 5
        reps.append(sc)
        cfgs.append(cfg)
        group_reason.append(why)
        limits.append({o.key: o.limit_s for o in slo_eval.objectives(sc.slo)})
        load.append(diurnal_multipliers(sc.workload))

    cfg_arr = np.ascontiguousarray(np.stack(cfgs))
    sh = latency_model.shapes(reps)
    # only configurations that exist go through the kernels; invalid parallelism has
    # no replica to model (capacity 0: every such point is infeasible, reason 2)
    ok = np.asarray(group_reason) != 2
    cap = np.zeros((len(cfgs), 3))
    rates_tab = np.zeros((len(cfgs), TABLE_RATES))
    values_tab = np.zeros((len(cfgs), TABLE_RATES, OP_COLUMNS))
    if ok.any():
        sh_ok = sh.take(ok)
        cap[ok, :2] = latency_model.capacity(cfg_arr[ok], sh_ok)
        rates_tab[ok], values_tab[ok] = latency_model.table(cfg_arr[ok], sh_ok, cap[ok, 1])
        lim = latency_model.limits([sc for sc, k in zip(reps, ok, strict=True) if k])
        cap[ok, 2] = latency_model.rate_under_slo(rates_tab[ok], values_tab[ok], lim, cap[ok, 1])

    columns = tuple(
        dict.fromkeys(
            (
                "saturated",
                *(f"{m}_{s}_s" for m in ("ttft", "tpot", "e2e") for s in ("mean", "p95")),
                *(k for lim in limits for k in lim),
            )
        )
    )
    wanted = np.array([latency_model.column(c) for c in columns], dtype=np.int64)
    values_tab = np.ascontiguousarray(values_tab[:, :, wanted])
    base = reps[0]
    written = trial_scenario(raw, {}, source)  # the scenario as written: price overrides
    mode = _cheap(axes, "hardware.pricing", base.hardware.pricing, str, object)
    modes = sorted({str(m) for m in mode.values})
    gpus = [sc.hardware.gpu for sc in reps]
    return FastGrid(
        shape=shape,
        expensive=expensive,
        exp_shape=exp_shape,
        group_reason=np.asarray(group_reason, dtype=np.int8),
        cap=cap,
        rates_tab=rates_tab,
        values_tab=values_tab,
        i_len=sh.i_len,
        o_len=sh.o_len,
        cached_share=np.array([econ.cached_input_share(sc) for sc in reps]),
        limits={  # only the objectives some point has (each costs a pass over the grid)
            k: np.array([lim.get(k, np.inf) for lim in limits])
            for k in slo_eval.objective_keys()
            if any(k in lim for lim in limits)
        },
        peak_mult=np.array([x[0] for x in load]),
        mean_mult=np.array([x[1] for x in load]),
        fixed_monthly=np.array(
            [
                float(sc.workload.monthly_tokens)
                if sc.workload.monthly_tokens is not None
                else np.nan
                for sc in reps
            ]
        ),
        gpus_per_replica=np.array([sc.hardware.tp * sc.hardware.pp for sc in reps], dtype=float),
        price_table=np.array(
            [[econ.gpu_price(written, g, m).usd_per_gpu_hour for m in modes] for g in gpus]
        ),
        own_gpu=np.array([g == written.hardware.gpu for g in gpus]),
        rate=_cheap(axes, "workload.rate_per_s", base.workload.rate_per_s or 0.0),
        replicas=_cheap(axes, "hardware.replicas", base.hardware.replicas),
        mode=_Cheap(mode.axis, np.searchsorted(np.array(modes), mode.values.astype(str))),
        own_mode=_Cheap(mode.axis, mode.values.astype(str) == written.hardware.pricing),
        override=_cheap(
            axes,
            "hardware.price_usd_per_gpu_hour",
            base.hardware.price_usd_per_gpu_hour,
            lambda v: np.nan if v is None else float(v),
        ),
        apis=econ.selected_apis(written),
        columns=columns,
        kinds=saturation_kinds(wanted),
    )


def fast_can_answer(scenario: Scenario, source: str) -> None:
    """Refuse what the fast model does not represent, rather than answer it wrongly."""
    if scenario.hardware.disaggregated:
        raise SimplanError(
            "the fast sweep grid models one replica configuration per point, not a "
            "prefill/decode split; use --method simulate, or `simplan plan`, which sizes "
            "each side with the fast split model and checks it by simulation",
            source=source,
        )
    if scenario.hardware.pools:
        raise SimplanError(
            "the fast method models the [hardware] pool only, not [[hardware.pools]]; "
            "use --method simulate for a mixed fleet",
            source=source,
        )
    if is_job(scenario):
        raise SimplanError(
            "a finite job (arrival = 'offline') is priced by its duration, which the fast "
            "method does not simulate; use --method simulate, or `simplan plan` with "
            "deadline_s",
            source=source,
        )
