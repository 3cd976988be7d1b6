"""Plots of one run over time: the engine timeline and the elastic fleet's replicas and cost."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import (
    MaxNLocator,
)
from simplan.plots.read import _units, run_summary
from simplan.plots.style import OKABE_ITO, _figure, _style, _titles

# --- run timeline ---------------------------------------------------------------------------

_TIMELINE_PANELS = (
    # variable, label, percent?, fleet reduction
    ("queue_length", "queue length", False, "sum"),
    ("batch_size", "batch size", False, "sum"),
    ("kv_cache_occupancy", "KV-cache occupancy", True, "mean"),
    ("utilization", "utilization (busy)", True, "mean"),
)


def _bin(t: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Block means so a long run draws at most ``max_points`` points per line."""
    n = t.size
    k = max(1, math.ceil(n / max_points))
    if k == 1:
        return t, y, 1
    m = n // k * k
    tb = t[:m].reshape(-1, k).mean(axis=1)
    yb = y[:m].reshape(-1, k, *y.shape[1:]).mean(axis=1)
    return tb, yb, k


def run_timeline(run_ds: xr.Dataset, *, max_replicas: int = 8, max_points: int = 3000) -> Figure:
    """Queue length, batch size, KV-cache occupancy and utilization over simulated time.

    One line per replica when there are at most ``max_replicas``, else the fleet total
    (queue, batch) or mean (occupancy, utilization) with the replicas' range shaded.
    Runs longer than 3 h are drawn in hours; long series are averaged in blocks.
    """
    ds = run_ds
    t = ds["time"].values.astype(float)
    hours = t.size > 0 and float(t.max()) > 3 * 3600
    scale = 3600.0 if hours else 1.0
    n_rep = int(ds.sizes.get("replica", 1))
    per_replica = n_rep <= max_replicas
    gpus = [str(g) for g in ds["replica_gpu"].values] if "replica_gpu" in ds.coords else []
    mixed = len(set(gpus)) > 1
    warmup = float(run_summary(ds).get("window_start_s") or 0.0)
    fig = _figure((8.0, 8.0))
    axes = fig.subplots(4, 1, sharex=True)
    handles: list[Any] = []
    step = 1
    for k, (ax, (var, name, pct, how)) in enumerate(zip(axes, _TIMELINE_PANELS, strict=True)):
        if var not in ds:
            ax.set_visible(False)
            continue
        y = ds[var].transpose("time", "replica").values.astype(float)
        tb, yb, step = _bin(t, y, max_points)
        yb = yb * (100.0 if pct else 1.0)
        x = tb / scale
        draw = "steps-post" if not pct and step == 1 else "default"
        every = max(1, len(x) // 8)
        drawn = yb
        if per_replica:
            for r in range(yb.shape[1]):
                lbl = f"replica {r}" + (f" ({gpus[r]})" if mixed else "")
                (line,) = ax.plot(
                    x,
                    yb[:, r],
                    lw=1.0,
                    ms=4.5,
                    drawstyle=draw,
                    markevery=(r * every // max(n_rep, 1), every),
                    label=lbl,
                    **_style(r),
                )
                if k == 0:
                    handles.append(line)
        else:
            red = np.nansum(yb, axis=1) if how == "sum" else np.nanmean(yb, axis=1)
            drawn = red
            word = "fleet total" if how == "sum" else "fleet mean"
            (line,) = ax.plot(
                x,
                red,
                color=OKABE_ITO[3],
                lw=1.2,
                drawstyle=draw,
                label=f"{word} ({n_rep} replicas)",
            )
            if k in (0, 2):
                handles.append(line)
            if how == "mean":
                band = ax.fill_between(
                    x,
                    np.nanmin(yb, axis=1),
                    np.nanmax(yb, axis=1),
                    color=OKABE_ITO[1],
                    alpha=0.3,
                    lw=0,
                    label="range over replicas",
                )
                if k == 2:
                    handles.append(band)
        if warmup > 0:
            span = ax.axvspan(
                0, warmup / scale, facecolor="0.9", hatch="//", edgecolor="0.7", lw=0, zorder=0
            )
            if k == 0:
                span.set_label("warm-up (excluded from statistics)")
                handles.append(span)
        units = "%" if pct else _units(ds[var])
        ax.set_ylabel(f"{name}\n({units})", fontsize=9)
        ax.grid(True, alpha=0.3)
        if pct:
            ax.set_ylim(-3, 103)
        else:
            top = float(np.nanmax(drawn)) if np.isfinite(drawn).any() else 1.0
            ax.set_ylim(-0.04 * max(top, 1.0), max(top, 1.0) * 1.08)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[-1].set_xlabel(f"simulated time ({'h' if hours else 's'})")
    if t.size:
        axes[-1].set_xlim(0, float(t.max()) / scale)
    scope = f"{n_rep} replicas, one line each" if per_replica else f"fleet of {n_rep} replicas"
    note = f"Replica state over simulated time ({scope})"
    if gpus and not mixed:
        note += f" on {gpus[0]}"
    if hours:
        note += "; diurnal runs show the day"
    if step > 1 and t.size > 1:
        note += f"; {float(np.median(np.diff(t))) * step:g}-s means"
    _titles(fig, ds, note)
    if handles:
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(3, len(handles)),
            fontsize=7.5,
            frameon=False,
        )
    return fig


_PART_STYLE = {
    "reserved": (OKABE_ITO[0], "-"),
    "on_demand": (OKABE_ITO[1], "--"),
    "spot": (OKABE_ITO[2], "-."),
    "api": (OKABE_ITO[3], ":"),
}


def fleet_timeline(run_ds: xr.Dataset, *, max_points: int = 3000) -> Figure:
    """Provisioned, active and busy replicas, and cumulative cost by part, over time.

    Provisioned counts every replica being paid for (starting, active, draining or
    failed); busy counts active replicas with at least one running sequence. Cost is
    split into reserved, on-demand and spot replica-hours and the overflow API.
    """
    ds = run_ds
    t = ds["time"].values.astype(float)
    hours = t.size > 0 and float(t.max()) > 3 * 3600
    scale = 3600.0 if hours else 1.0
    state = ds["replica_state"].transpose("time", "replica").values
    batch = ds["batch_size"].transpose("time", "replica").values
    counts = np.stack(
        [
            ((state >= 1) & (state <= 4)).sum(axis=1),
            (state == 2).sum(axis=1),
            ((state == 2) & (batch > 0)).sum(axis=1),
        ],
        axis=1,
    ).astype(float)
    tb, cb, _ = _bin(t, counts, max_points)
    fig = _figure((8.0, 6.5))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for k, (label, ls) in enumerate(
        (("provisioned (billed)", "-"), ("active", "--"), ("busy (running sequences)", ":"))
    ):
        ax1.plot(
            tb / scale, cb[:, k], ls, color=OKABE_ITO[k + 4], label=label, drawstyle="steps-post"
        )
    ax1.set_ylabel("replicas")
    ax1.yaxis.get_major_locator().set_params(integer=True)
    ax1.legend(loc="upper left", fontsize=8, ncol=3)
    ax1.grid(alpha=0.3)
    cost = ds["cost_usd_cum"].transpose("time", "replica").values
    pricing = (
        [str(p) for p in ds["replica_pricing"].values]
        if "replica_pricing" in ds.coords
        else ["on_demand"] * cost.shape[1]
    )
    for part in ("reserved", "on_demand", "spot"):
        cols = [i for i, p in enumerate(pricing) if p == part]
        if not cols:
            continue
        color, ls = _PART_STYLE[part]
        ax2.plot(
            t / scale,
            cost[:, cols].sum(axis=1),
            ls,
            color=color,
            label=f"{part.replace('_', '-')} replicas",
        )
    if "api_cost_usd_cum" in ds:
        color, ls = _PART_STYLE["api"]
        ax2.plot(t / scale, ds["api_cost_usd_cum"].values, ls, color=color, label="overflow API")
    ax2.set_ylabel("cumulative cost (USD)")
    ax2.set_xlabel("simulated time (h)" if hours else "simulated time (s)")
    ax2.legend(loc="upper left", fontsize=8)
    ax2.grid(alpha=0.3)
    _titles(fig, ds, "Fleet size and cost over simulated time")
    return fig
