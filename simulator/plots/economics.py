"""Money plots of a sweep: $/M tokens against utilization, and monthly cost against monthly
volume with the API lines and their crossovers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
)
from simplan.economics import HOURS_PER_MONTH
from simplan.formatting import price, tokens_compact, usd_compact
from simplan.plots.read import (
    _configs,
    _dim_for,
    _nan_reduce,
    _replicas,
    api_prices,
    slo_passes,
    sweep_dims,
)
from simplan.plots.style import (
    API_COLOUR,
    API_DASHES,
    RATE_KEY,
    REPLICAS_KEY,
    SECONDS_PER_MONTH,
    _figure,
    _style,
    _titles,
    _usd_log_axis,
)


def _draw_api_lines(ax: Axes, prices: dict[str, dict[str, Any]], *, horizontal: bool) -> None:
    for j, (aid, p) in enumerate(prices.items()):
        blended = p["usd_per_mtok_blended"]
        label = f"API {aid} ({price(blended)}/M tok blended)"
        if horizontal:
            ax.axhline(blended, color=API_COLOUR, lw=1.4, ls=API_DASHES[j % 4], label=label)


# --- utilization vs cost --------------------------------------------------------------------


def utilization_vs_cost(
    sweep_ds: xr.Dataset, *, api_ids: Iterable[str] | None = None, max_lines: int = 8
) -> Figure:
    """$/M tokens against fleet utilization, one line per configuration, APIs as lines.

    A configuration is a combination of the axes other than the request rate and the
    replica count; its line runs over every feasible (replicas, rate) point, sorted by
    utilization (cost per token depends on the load per replica, not on the fleet size).
    At most ``max_lines`` configurations are drawn, the cheapest first.
    """
    ds = sweep_ds
    rate_dim, rep_dim = _dim_for(ds, RATE_KEY), _dim_for(ds, REPLICAS_KEY)
    cfg_dims = [d for d in sweep_dims(ds) if d not in (rate_dim, rep_dim)]
    lines = []
    for label, sel in _configs(ds, cfg_dims):
        sub = ds.sel(sel) if sel else ds
        u = sub["utilization"].values.ravel().astype(float)
        c = sub["usd_per_mtok_total"].values.ravel().astype(float)
        met = slo_passes(sub).values.ravel().astype(bool)
        ok = sub["feasible"].values.ravel().astype(bool) & np.isfinite(u) & np.isfinite(c)
        if not ok.any():
            continue
        order = np.lexsort((c[ok], u[ok]))
        best = c[ok & met].min() if (ok & met).any() else np.inf
        lines.append((best, label, u[ok][order], c[ok][order], met[ok][order]))
    n_cfg = len(_configs(ds, cfg_dims))
    lines.sort(key=lambda t: t[0])
    shown = lines[:max_lines]
    fig = _figure((8.0, 6.5))
    ax = fig.add_subplot()
    any_missed = False
    for i, (_, label, u, c, met) in enumerate(shown):
        st = _style(i)
        ax.plot(u * 100, c, lw=1.6, ms=5, markevery=list(np.flatnonzero(met)), label=label, **st)
        if not met.all():  # hollow markers: points that miss the SLO
            any_missed = True
            ax.plot(u[~met] * 100, c[~met], ls="none", ms=5, mfc="white", **st)
    if any_missed:
        ax.plot(
            [],
            [],
            ls="none",
            marker="o",
            ms=5,
            color="0.3",
            mfc="white",
            label="hollow marker: point misses the SLO",
        )
    prices = api_prices(ds)
    if api_ids is not None:
        wanted = list(api_ids)
        prices = {k: v for k, v in prices.items() if k in wanted}
    _draw_api_lines(ax, prices, horizontal=True)
    ax.set_xlabel("fleet utilization (% of sustainable request rate)")
    ax.set_ylabel("self-hosted cost (USD per million tokens, input + output)")
    ax.set_yscale("log")
    _usd_log_axis(ax.yaxis)
    ax.set_xlim(0, 105)
    ax.grid(True, which="major", alpha=0.3)
    if len(lines) > len(shown):
        note = f"the {len(shown)} cheapest meeting the SLO of {n_cfg} configurations"
    else:
        note = f"{len(shown)} of {n_cfg} configurations"
    if len(lines) < n_cfg:
        note += f"; {n_cfg - len(lines)} with no feasible point omitted"
    _titles(fig, ds, f"Self-hosted cost per token against utilization: {note}")
    if shown or prices:
        fig.legend(loc="outside lower center", ncol=2, fontsize=7.5, frameon=False)
    return fig


# --- cost vs volume -------------------------------------------------------------------------


def _replica_capacity(ds: xr.Dataset) -> tuple[xr.DataArray, bool]:
    """Per point: tokens/s one replica serves at the SLO capacity (the max. rate under the
    SLO per replica times the tokens per request); the flag says whether it is the simulated
    fallback instead (simulate sweeps have no capacity estimate: the served load per replica
    at points meeting the SLO, NaN elsewhere; the capacity is its maximum over the load)."""
    reps = _replicas(ds)
    if np.isfinite(ds["max_rate_under_slo_per_s"].values).any():
        per_replica_rate = ds["max_rate_under_slo_per_s"] / reps
        return per_replica_rate * ds["tokens_per_request"], False
    tokens = (ds["input_tokens_per_s"] + ds["output_tokens_per_s"]) / reps
    return tokens.where(slo_passes(ds) & ds["feasible"].astype(bool)), True


def _replica_capacities(ds: xr.Dataset) -> tuple[list[dict[str, Any]], bool]:
    """Per configuration (axes other than replicas and rate): monthly replica price and
    capacity under the SLO; the flag says whether the capacity is the simulated fallback."""
    rate_dim, rep_dim = _dim_for(ds, RATE_KEY), _dim_for(ds, REPLICAS_KEY)
    cfg_dims = [d for d in sweep_dims(ds) if d not in (rate_dim, rep_dim)]
    tokens_per_s, fallback = _replica_capacity(ds)
    out = []
    for label, sel in _configs(ds, cfg_dims):
        usd_h = _max_at(ds["replica_usd_per_hour"], sel)
        cap = _max_at(tokens_per_s, sel) * SECONDS_PER_MONTH
        if not (np.isfinite(cap) and cap > 0 and np.isfinite(usd_h) and usd_h > 0):
            continue
        out.append(
            {
                "configuration": label,
                "config": sel,
                "replica_usd_per_month": usd_h * HOURS_PER_MONTH,
                "replica_capacity_tokens_per_month": cap,
            }
        )
    return out, fallback


def _max_at(da: xr.DataArray, sel: dict[str, Any]) -> float:
    return _nan_reduce((da.sel(sel) if sel else da).values.astype(float), "max")


def crossovers(sweep_ds: xr.Dataset) -> list[dict[str, Any]]:
    """Volumes where a self-hosted fleet first becomes cheaper than an API.

    A configuration's fleet costs ``ceil(V / capacity)`` replicas a month for volume
    ``V``; an API costs ``V * blended price``. Within the n-th step the fleet costs
    ``n * M`` (``M``: one replica's monthly price), so it drops below the API first at
    ``V = M / price``, provided that is within one replica's capacity; otherwise the
    API is cheaper at every volume. One dict per (configuration, API) pair that crosses,
    sorted by API then volume.
    """
    caps, _ = _replica_capacities(sweep_ds)
    prices = api_prices(sweep_ds)
    out = []
    for aid, p in prices.items():
        per_tok = p["usd_per_mtok_blended"] / 1e6
        if per_tok <= 0:
            continue
        for c in caps:
            v = c["replica_usd_per_month"] / per_tok
            if v <= c["replica_capacity_tokens_per_month"]:
                out.append(
                    {
                        **c,
                        "api": aid,
                        "api_usd_per_mtok": p["usd_per_mtok_blended"],
                        "volume_tokens_per_month": v,
                        "monthly_cost_usd": c["replica_usd_per_month"],
                        "replicas": 1,
                    }
                )
    out.sort(key=lambda d: (d["api"], d["volume_tokens_per_month"]))
    return out


def _step_curve(m: float, cap: float, vmin: float, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact step function ``ceil(V / cap) * m`` on [vmin, vmax]."""
    n_lo = max(1, math.ceil(vmin / cap))
    n_hi = max(n_lo, math.ceil(vmax / cap))
    if n_hi - n_lo > 20000:  # too many steps to see: sample the curve instead
        v = np.geomspace(vmin, vmax, 4000)
        return v, np.ceil(v / cap) * m
    n = np.arange(n_lo, n_hi + 1, dtype=float)
    edges = np.concatenate([[vmin], n[:-1] * cap, [vmax]])
    xs = np.repeat(edges, 2)[1:-1]
    ys = np.repeat(n * m, 2)
    return xs, ys


def cost_vs_volume(sweep_ds: xr.Dataset, *, max_lines: int = 6) -> Figure:
    """Monthly cost against monthly token volume (log–log), fleets as steps, APIs as lines.

    The ``max_lines`` configurations cheapest per token at full capacity are drawn; every
    crossover of a drawn fleet with an API is circled, and the first one per API labelled.
    """
    ds = sweep_ds
    caps, fallback = _replica_capacities(ds)
    caps.sort(key=lambda c: c["replica_usd_per_month"] / c["replica_capacity_tokens_per_month"])
    shown = caps[:max_lines]
    prices = api_prices(ds)
    names = {c["configuration"] for c in shown}
    cross = [x for x in crossovers(ds) if x["configuration"] in names]
    fig = _figure((8.0, 6.5))
    ax = fig.add_subplot()
    if shown:
        m_lo = min(c["replica_usd_per_month"] for c in shown)
        cap_lo = min(c["replica_capacity_tokens_per_month"] for c in shown)
        cap_hi = max(c["replica_capacity_tokens_per_month"] for c in shown)
        vmin, vmax = cap_lo / 10, cap_hi * 10
        for p in prices.values():  # include the volume at which each API costs one replica
            if p["usd_per_mtok_blended"] > 0:
                vmin = min(vmin, m_lo / (p["usd_per_mtok_blended"] / 1e6) / 3)
        vmin = 10 ** math.floor(math.log10(vmin))
    else:
        vmin, vmax = 1e7, 1e12
    y_hi = 0.0
    for i, c in enumerate(shown):
        m, cap = c["replica_usd_per_month"], c["replica_capacity_tokens_per_month"]
        xs, ys = _step_curve(m, cap, vmin, vmax)
        y_hi = max(y_hi, float(ys.max()))
        st = _style(i)
        ax.plot(xs, ys, lw=1.6, color=st["color"])
        # markers at a few log-spaced volumes (shifted per line) identify it without colour
        targets = np.geomspace(vmin, vmax, 10)[1:-1] * (1.0 + 0.1 * i)
        ax.plot(targets, np.ceil(targets / cap) * m, ls="none", ms=5, **st)
        ax.plot([], [], lw=1.6, ms=5, label=c["configuration"], **st)  # legend entry
    vol = np.geomspace(vmin, vmax, 50)
    for j, (aid, p) in enumerate(prices.items()):
        ax.plot(
            vol,
            vol * p["usd_per_mtok_blended"] / 1e6,
            color=API_COLOUR,
            lw=1.4,
            ls=API_DASHES[j % 4],
            label=f"API {aid} ({price(p['usd_per_mtok_blended'])}/M tok blended)",
        )
    if cross:
        ax.plot(
            [x["volume_tokens_per_month"] for x in cross],
            [x["monthly_cost_usd"] for x in cross],
            ls="none",
            marker="o",
            ms=10,
            mfc="none",
            mec="black",
            mew=1.4,
            label="crossover: fleet first cheaper than the API",
        )
        firsts: dict[str, dict[str, Any]] = {}
        for x in cross:  # sorted by API, then volume
            firsts.setdefault(x["api"], x)
        ordered = sorted(firsts.values(), key=lambda d: d["volume_tokens_per_month"])
        for k, x in enumerate(ordered):  # labels stacked in the empty upper-left corner
            ax.annotate(
                f"crossover {tokens_compact(x['volume_tokens_per_month'])} tok/mo: "
                f"{x['configuration']} vs {x['api']}",
                xy=(x["volume_tokens_per_month"], x["monthly_cost_usd"]),
                xytext=(0.02, 0.96 - 0.085 * k),
                textcoords="axes fraction",
                ha="left",
                va="top",
                fontsize=7.5,
                arrowprops={"arrowstyle": "->", "color": "0.25", "lw": 0.8, "shrinkB": 6},
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.6"},
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(vmin, vmax)
    if shown:
        y_lo = min(c["replica_usd_per_month"] for c in shown) / 5
        ax.set_ylim(y_lo, y_hi * (4 if cross else 2))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: tokens_compact(v)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: usd_compact(v)))
    ax.set_xlabel("monthly volume (tokens/month, input + output)")
    ax.set_ylabel("monthly cost (USD/month)")
    ax.grid(True, which="major", alpha=0.3)
    how = "largest simulated load meeting the SLO" if fallback else "max. rate under the SLO"
    note = (
        f"self-hosted: ceil(volume / replica capacity) replicas, capacity = {how}; "
        f"{len(shown)} of {len(caps)} configurations (cheapest per token at capacity)"
    )
    _titles(fig, ds, f"Monthly cost against volume ({note})", width=110)
    if shown or prices:
        fig.legend(loc="outside lower center", ncol=2, fontsize=7.5, frameon=False)
    return fig
