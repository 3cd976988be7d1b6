"""A heatmap of $/M tokens over two sweep axes (a third as facets)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import (
    FuncFormatter,
)
from simplan.errors import SimplanError
from simplan.formatting import by_units, price, usd_compact
from simplan.plots.economics import _replica_capacity
from simplan.plots.read import _coord_label, _tick, _units, slo_passes, sweep_dims
from simplan.plots.style import _axis_label, _figure, _titles
from simplan.plots.ticks import _spaced_log_axis, _value_ticks

# --- sweep map ------------------------------------------------------------------------------


def _reduce_min(da: xr.DataArray, dims: Sequence[str]) -> xr.DataArray:
    """Minimum over ``dims`` ignoring NaN, NaN where all are NaN (without warnings)."""
    if not dims:
        return da
    keep = [d for d in da.dims if d not in dims]
    arr = da.transpose(*keep, *dims).values.astype(float)
    flat = arr.reshape(*arr.shape[: len(keep)], -1)
    red = np.fmin.reduce(flat, axis=-1) if flat.shape[-1] else np.full(flat.shape[:-1], np.nan)
    return xr.DataArray(red, dims=keep, coords={d: da[d] for d in keep}, attrs=da.attrs)


def sweep_map(
    sweep_ds: xr.Dataset,
    var: str = "usd_per_mtok_total",
    x: str | None = None,
    y: str | None = None,
    facet: str | None = None,
    *,
    slo_only: bool = True,
) -> Figure:
    """Heatmap of ``var`` over axes ``x`` and ``y``, one panel per value of ``facet``.

    For ``usd_per_mtok_total`` (the default) a point shows the cost per million tokens of
    its configuration at the SLO capacity: one replica's price per hour over the tokens it
    serves in an hour at its largest rate under the SLO (``max_rate_under_slo_per_s`` per
    replica; for simulate sweeps, which have no such estimate, the served load per replica
    at points meeting the SLO, as in ``cost_vs_volume``). The cost at the swept load
    would not do: it depends only on the GPU-hours per request, so configurations that
    differ in capacity (fp16, fp8 and int4 weights on one GPU) would all look alike.

    Remaining axes are reduced by taking the minimum (over points meeting the SLO when
    ``slo_only``); cells with no such point are grey and hatched. Panels share one
    colour scale (logarithmic when the values span more than a decade).
    """
    ds = sweep_ds
    dims = sweep_dims(ds)
    x = x or dims[0]
    y = y or (dims[1] if len(dims) > 1 else None)
    for name, d in (("x", x), ("y", y), ("facet", facet)):
        if d is not None and d not in dims:
            raise SimplanError(
                f"sweep_map: {name} axis {d!r} is not a sweep axis ({', '.join(dims)})"
            )
    if y is None or x == y or facet in (x, y):
        raise SimplanError("sweep_map needs two distinct axes x and y (and a third as facet)")
    if var not in ds:
        raise SimplanError(f"sweep_map: no variable {var!r} in the sweep")
    at_capacity = var == "usd_per_mtok_total"
    if at_capacity:
        tokens_per_s, fallback = _replica_capacity(ds)
        tokens_per_h = tokens_per_s.where(tokens_per_s > 0) * 3600.0
        da = ds["replica_usd_per_hour"].astype(float) / tokens_per_h * 1e6
        name = "cost per M tokens at each configuration's SLO capacity"
    else:
        da = ds[var].astype(float)
        name = str(ds[var].attrs.get("long_name", var))
    mask = ds["feasible"].astype(bool)
    if slo_only:
        mask = mask & slo_passes(ds)
    da = da.where(mask)
    other = [d for d in dims if d not in (x, y, facet)]
    red = _reduce_min(da, other)
    facets = [v.item() for v in ds[facet].values] if facet else [None]
    vals = red.values[np.isfinite(red.values)]
    units = _units(ds[var])
    usd = units.startswith("USD")
    if vals.size and vals.min() > 0 and vals.max() / vals.min() > 10:
        norm: Normalize = LogNorm(vals.min(), vals.max())
    elif vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        norm = Normalize(lo, hi if hi > lo else lo + 1)
    else:
        norm = Normalize(0, 1)
    ncol = min(len(facets), 3)
    nrow = math.ceil(len(facets) / ncol)
    xs = [v.item() for v in ds[x].values]
    ys = [v.item() for v in ds[y].values]
    w = min(16.0, max(8.0, 0.9 * len(xs) * ncol + 2.5))
    h = min(14.0, max(5.0, (0.5 * len(ys) + 1.6) * nrow + 1.2))
    fig = _figure((w, h))
    axs = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    cmap = colormaps["viridis"].with_extremes(bad=(0, 0, 0, 0))
    im = None
    for ax, fv in zip(axs, facets, strict=False):
        panel = red.sel({facet: fv}) if facet else red
        z = panel.transpose(y, x).values
        ax.add_patch(
            Rectangle(
                (-0.5, -0.5),
                len(xs),
                len(ys),
                facecolor="0.85",
                edgecolor="0.55",
                hatch="//",
                lw=0,
                zorder=0,
            )
        )
        im = ax.imshow(
            np.ma.masked_invalid(z), cmap=cmap, norm=norm, origin="lower", aspect="auto", zorder=1
        )
        if len(xs) * len(ys) <= 100:
            for (iy, ix), v in np.ndenumerate(z):
                if np.isfinite(v):
                    dark = float(norm(v)) < 0.55
                    ax.text(
                        ix,
                        iy,
                        price(float(v)) if usd else by_units(float(v), units),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                        zorder=2,
                    )
        # labels turned upright when they do not fit side by side, thinned if even then
        _value_ticks(ax.xaxis, range(len(xs)), [_tick(v) for v in xs], 8, may_rotate=True)
        _value_ticks(ax.yaxis, range(len(ys)), [_tick(v) for v in ys], 8)
        ax.set_xlabel(_coord_label(ds, x), fontsize=9)
        ax.set_ylabel(_coord_label(ds, y), fontsize=9)
        if facet:
            ax.set_title(f"{facet} = {_tick(fv)}", fontsize=9)
    for ax in axs[len(facets) :]:
        ax.set_visible(False)
    if im is not None:
        cb = fig.colorbar(im, ax=list(axs[: len(facets)]), shrink=0.9)
        cb.set_label(_axis_label(name, units), fontsize=9)
        if units.startswith("USD") and isinstance(norm, LogNorm):
            _spaced_log_axis(cb.ax.yaxis, usd_compact)
        elif units.startswith("USD"):
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: usd_compact(v)))
    scope = "points meeting the SLO" if slo_only else "feasible points"
    what = f"{name if at_capacity else var} by {x} × {y}"
    what += f", one panel per {facet}" if facet else ""
    what += f"; minimum over {', '.join(other)} ({scope})" if other else f" ({scope})"
    if at_capacity:
        how = "largest simulated load meeting the SLO" if fallback else "max. rate under the SLO"
        what += f"; one replica's $/h over the tokens it serves in an hour at its {how}"
    _titles(fig, ds, what, width=int(12 * fig.get_figwidth()))
    label = "infeasible (no point meets the SLO)" if slo_only else "infeasible"
    fig.legend(
        handles=[Patch(facecolor="0.85", edgecolor="0.55", hatch="//", label=label)],
        loc="outside lower center",
        fontsize=8,
        frameon=False,
    )
    return fig
