"""Latency against load for a sweep with a request-rate axis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from simplan.errors import SimplanError
from simplan.formatting import by_units
from simplan.plots.read import (
    _configs,
    _dim_for,
    _nan_reduce,
    _tick,
    slo_limits,
    slo_passes,
    sweep_dims,
    verification_records,
)
from simplan.plots.style import (
    API_DASHES,
    RATE_KEY,
    _figure,
    _is_log_spaced,
    _style,
    _titles,
)
from simplan.plots.ticks import _spaced_log_axis, _value_ticks

# --- latency vs load ------------------------------------------------------------------------


def latency_vs_load(sweep_ds: xr.Dataset, *, max_lines: int = 6) -> Figure:
    """TTFT and TPOT against the offered request rate, with SLO limits and saturation.

    One line per configuration (every axis but the rate); the ``max_lines`` cheapest
    (lowest $/M tokens at a point meeting the SLO) are drawn. Mean latencies are solid,
    p95 dashed with hollow markers (the fast model's prediction, or the simulated p95 of a
    simulate sweep; the title says which); dotted verticals mark each configuration's
    saturation rate.
    """
    ds = sweep_ds
    rate_dim = _dim_for(ds, RATE_KEY)
    if rate_dim is None:
        raise SimplanError("latency_vs_load needs a workload.rate_per_s sweep axis")
    cfg_dims = [d for d in sweep_dims(ds) if d != rate_dim]
    rates = ds[rate_dim].values.astype(float)
    ranked = []
    for label, sel in _configs(ds, cfg_dims):
        sub = ds.sel(sel) if sel else ds
        feas = sub["feasible"].values.astype(bool)
        if not feas.any():
            continue
        cost = sub["usd_per_mtok_total"].values.astype(float)
        met = feas & slo_passes(sub).values.astype(bool)
        key = (0, _nan_reduce(cost[met], "min")) if met.any() else (1, _nan_reduce(cost, "min"))
        ranked.append((key, label, sub))
    ranked.sort(key=lambda t: (t[0][0], t[0][1] if np.isfinite(t[0][1]) else math.inf))
    shown = ranked[:max_lines]
    n_cfg = len(_configs(ds, cfg_dims))
    fig = _figure((8.0, 6.5))
    ax_t, ax_p = fig.subplots(2, 1, sharex=True)
    has_p95 = False
    has_verified = False
    handles: list[Any] = []
    for i, (_, label, sub) in enumerate(shown):
        st = _style(i)
        feas = sub["feasible"].values.astype(bool)
        for ax, var in ((ax_t, "ttft"), (ax_p, "tpot")):
            mean = np.where(feas, sub[f"{var}_s"].values.astype(float), np.nan)
            ax.plot(rates, mean, lw=1.6, ms=5, **st)
            p95 = np.where(feas, sub[f"{var}_p95_s"].values.astype(float), np.nan)
            if np.isfinite(p95).any():
                has_p95 = True
                ax.plot(rates, p95, lw=1.2, ls="--", ms=5, mfc="white", **st)
        sat = _nan_reduce(sub["max_rate_per_s"].values.astype(float), "max")
        if not np.isfinite(sat):  # simulate sweeps: the last feasible rate before overload
            last = int(np.flatnonzero(feas).max())
            overloaded = (sub["reason"].values[last + 1 :] == 3).any()
            sat = float(rates[last]) if overloaded else math.nan
        if np.isfinite(sat) and rates.min() <= sat <= rates.max():
            for ax in (ax_t, ax_p):
                ax.axvline(sat, color=st["color"], ls=":", lw=1.3)
        handles.append(Line2D([], [], lw=1.6, ms=5, label=label, **st))
        for rec in verification_records(ds):  # points `sweep --verify` simulated: their worst p95
            point = rec["point"]
            if rate_dim not in point or any(
                d not in point or point[d] != sub[d].values.item() for d in cfg_dims
            ):
                continue
            for ax, var in ((ax_t, "ttft"), (ax_p, "tpot")):
                got = [v for v in rec["achieved"].get(f"{var}_p95_s", []) if v is not None]
                if got:
                    has_verified = True
                    ax.plot(
                        [point[rate_dim]],
                        [max(got)],
                        ls="none",
                        marker="X",
                        ms=9,
                        color=st["color"],
                        mec="black",
                    )
    if has_verified:
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="X",
                ms=9,
                color="0.6",
                mec="black",
                label="p95 simulated (sweep --verify, worst seed)",
            )
        )
    if has_p95:
        handles.append(Line2D([], [], color="0.3", lw=1.6, label="mean"))
        handles.append(Line2D([], [], color="0.3", lw=1.2, ls="--", mfc="white", label="p95"))
    if shown:
        handles.append(
            Line2D([], [], color="0.3", ls=":", lw=1.3, label="saturation rate (max_rate_per_s)")
        )
    limits = slo_limits(ds)
    n_slo = 0
    for ax, metric, name in (
        (ax_t, "ttft", "time to first token"),
        (ax_p, "tpot", "time per output token"),
    ):
        for slo_key, lim in sorted(k for k in limits.items() if k[0].startswith(metric)):
            ls = API_DASHES[n_slo % 4]
            n_slo += 1
            ax.axhline(lim, color="black", lw=1.4, ls=ls)
            handles.append(
                Line2D(
                    [],
                    [],
                    color="black",
                    lw=1.4,
                    ls=ls,
                    label=f"SLO {slo_key} = {by_units(lim, 's')}",
                )
            )
        ax.set_ylabel(f"{name} (s)")
        ax.grid(True, which="major", alpha=0.3)
        ys = np.concatenate(
            [line.get_ydata() for line in ax.lines if len(line.get_xdata()) > 2]
            or [np.array([1.0])]
        )
        ys = ys[np.isfinite(ys) & (ys > 0)]
        if ys.size and ys.max() / ys.min() > 30:
            ax.set_yscale("log")
            _spaced_log_axis(ax.yaxis)
    if _is_log_spaced(rates):
        ax_p.set_xscale("log")
    # every rate keeps a tick mark; as many are labelled as fit side by side
    _value_ticks(ax_p.xaxis, rates, [_tick(v) for v in rates])
    ax_p.set_xlabel("offered request rate (requests/s)")
    source = "simulated" if ds.attrs.get("method") == "simulate" else "fast model"
    stat = f"mean and p95 ({source})" if has_p95 else "mean (no p95 in this sweep)"
    note = f"{stat}; {len(shown)} of {n_cfg} configurations"
    if len(ranked) > len(shown):
        note += f" (the {len(shown)} cheapest meeting the SLO)"
    _titles(fig, ds, f"Latency against offered load: {note}")
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=3 if len(handles) > 4 else len(handles),
            fontsize=7.5,
            frameon=False,
        )
    return fig
