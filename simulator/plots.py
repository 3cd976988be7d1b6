"""Planner plots of runs and sweeps: one function per plot kind, each returning a Figure.

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas, never through
``pyplot``, so no global figure state is created or leaked. Colours come from the
Okabe–Ito palette (safe for colour-blind readers) and every configuration also gets its
own marker, so lines stay distinguishable in greyscale.

Kinds (``plot_results`` renders every applicable one):

* ``timeline`` (a run): queue, batch size, KV-cache occupancy and utilization over time;
* ``utilization_vs_cost`` (a sweep): $/M tokens against fleet utilization, APIs as lines;
* ``cost_vs_volume`` (a sweep): monthly cost against monthly volume, crossovers marked;
* ``latency_vs_load`` (a sweep with a request-rate axis): TTFT and TPOT against load;
* ``sweep_map`` (a sweep with two or more axes): a heatmap of $/M tokens.
"""

from __future__ import annotations

import bisect
import io
import itertools
import math
import textwrap
import tomllib
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colormaps, rcParams
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    Locator,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)
from simplan.economics import HOURS_PER_MONTH, ApiQuote
from simplan.errors import SimplanError
from simplan.slo import MISSED as SLO_MISSED
from simplan.slo import NOT_VERIFIED as SLO_NOT_VERIFIED

#: Okabe–Ito colours without yellow (faint on white); reference lines are dashed, unmarked.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
#: Filled markers only: a white face marks points that miss the SLO, which an unfilled
#: marker ("+", "x", "1", ...) has no face to show.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
#: Dash patterns for API and reference lines (no markers, so they never look like data).
API_DASHES: list[Any] = [(0, (6, 3)), (0, (2, 2)), (0, (8, 2, 2, 2)), (0, (4, 2, 1, 2, 1, 2))]
API_COLOUR = "#555555"
FIGSIZE = (8.0, 5.0)
DPI = 120
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0

RATE_KEY = "workload.rate_per_s"
REPLICAS_KEY = "hardware.replicas"

#: Plot kinds in the order ``plot_results`` renders them.
RUN_KINDS = ("timeline", "fleet")
SWEEP_KINDS = ("utilization_vs_cost", "cost_vs_volume", "latency_vs_load", "sweep_map")
KINDS = RUN_KINDS + SWEEP_KINDS


# --- small helpers ----------------------------------------------------------------------


def _figure(figsize: tuple[float, float] = FIGSIZE) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _style(i: int) -> dict[str, Any]:
    """Colour and marker of the i-th configuration (distinct pairs for 56 lines)."""
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "marker": MARKERS[i % len(MARKERS)]}


def _title(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("title") or "simplan")


def _titles(fig: Figure, ds: xr.Dataset, what: str, width: int = 100) -> None:
    """Scenario title on the first line, what the plot shows (wrapped) below it."""
    if ds.attrs.get("thinned"):
        what = f"{what}; {ds.attrs['thinned']}"
    fig.suptitle(f"{_title(ds)}\n{textwrap.fill(what, width)}", fontsize=10)


def _scenario_raw(ds: xr.Dataset) -> dict[str, Any]:
    text = ds.attrs.get("scenario_toml")
    if not text:
        return {}
    try:
        return tomllib.loads(str(text))
    except tomllib.TOMLDecodeError:
        return {}


def fact(ds: xr.Dataset, name: str, default: Any = None) -> Any:
    """A scenario fact the result recorded (:func:`simplan.dataset.scenario_facts`); files written
    before facts were recorded fall back to their stored scenario text."""
    if name in ds.attrs:
        v = ds.attrs[name]
        return v.item() if isinstance(v, np.generic) else v
    raw = _scenario_raw(ds)
    where = {
        "scenario_name": ("name",),
        "question": ("question",),
        "model": ("model", "name"),
        "weights": ("model", "weights"),
        "gpu": ("hardware", "gpu"),
        "tp": ("hardware", "tp"),
        "pp": ("hardware", "pp"),
        "replicas": ("hardware", "replicas"),
    }
    if name == "pools":
        return len(raw.get("hardware", {}).get("pools") or [])
    cur: Any = raw
    for part in where.get(name, ()):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return default if cur is None else cur


def slo_limits(ds: xr.Dataset) -> dict[str, float]:
    """The SLO objectives the result recorded, e.g. ``{"ttft_p95_s": 2.0}``."""
    if "slo_limit_s" in ds:
        return {
            str(k): float(v)
            for k, v in zip(ds["objective"].values, ds["slo_limit_s"].values, strict=True)
        }
    slo = _scenario_raw(ds).get("slo", {})  # a file written before the limits were recorded
    return {k: float(v) for k, v in slo.items() if isinstance(v, int | float)}


def slo_passes(ds: xr.Dataset) -> xr.DataArray:
    """Points not known to miss the SLO: met, or (fast sweeps) not ruled out because the
    fast model's means cannot verify a percentile objective (``slo_status``)."""
    if "slo_status" in ds:
        return ds["slo_status"] != SLO_MISSED
    return ds["slo_met"].astype(bool)


def slo_unverified(ds: xr.Dataset) -> bool:
    """Whether some passing points are only not ruled out (percentiles not verified)."""
    return "slo_status" in ds and bool((ds["slo_status"] == SLO_NOT_VERIFIED).any())


def _units(da: xr.DataArray, default: str = "1") -> str:
    return str(da.attrs.get("units", default))


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The sweep axes (dimension names) in file order."""
    return [str(d) for d in ds["usd_per_mtok_total"].dims]


def _dim_for(ds: xr.Dataset, key: str) -> str | None:
    """The dimension whose coordinate sweeps ``key`` (a dotted scenario key), if any."""
    for d in sweep_dims(ds):
        if ds[d].attrs.get("key_path", d) == key:
            return d
    return None


def fmt_coord(value: Any) -> str:
    """A coordinate value for a label: whole numbers as integers, other floats to four
    significant digits (a ``{start, stop, num}`` axis holds values like 10.0793684)."""
    if isinstance(value, float | np.floating):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    return str(value)


def _value_label(dim: str, value: Any) -> str:
    if isinstance(value, str | np.str_):
        return str(value)
    return f"{dim} {fmt_coord(value)}"


def _configs(ds: xr.Dataset, dims: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every combination of ``dims``' values as ``(label, {dim: value})``."""
    values = [[v.item() for v in ds[d].values] for d in dims]
    out = []
    for combo in itertools.product(*values):
        sel = dict(zip(dims, combo, strict=True))
        label = " · ".join(_value_label(d, v) for d, v in sel.items()) or "self-hosted fleet"
        out.append((label, sel))
    return out


def _replicas(ds: xr.Dataset) -> xr.DataArray:
    """Replicas per point, broadcastable against the sweep variables."""
    dim = _dim_for(ds, REPLICAS_KEY)
    if dim is not None:
        return ds[dim].astype(float)
    n = fact(ds, "replicas", 1)
    return xr.DataArray(float(n))


def _nan_reduce(values: np.ndarray, how: str) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan
    return float(finite.min() if how == "min" else finite.max())


def _fmt_tokens(v: float) -> str:
    """Token volume in words: 3.6 B, 850 M, 1.2 T."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            x = v / scale
            return f"{x:.2g} {unit}" if x < 10 else f"{x:,.0f} {unit}"
    return f"{v:.3g}"


def _fmt_usd(v: float) -> str:
    if v >= 1e6:
        return f"${v / 1e6:.3g}M"
    if v >= 1e3:
        return f"${v / 1e3:.3g}k"
    if v >= 1:
        return f"${v:.3g}"
    return f"${v:.2g}"


def _fmt_price(v: float) -> str:
    """A $/M-token price with enough digits to compare: $4.00, $0.436, $0.0001."""
    return f"${v:,.2f}" if v >= 1 else f"${v:.3g}"


def _fmt_value(v: float, units: str) -> str:
    if units.startswith("USD"):
        return f"${v:.2f}" if v < 100 else f"${v:,.0f}"
    if units == "1":
        return f"{v:.0%}" if 0 <= v <= 1 else f"{v:.3g}"
    if units == "s":
        return f"{v * 1e3:.0f} ms" if v < 1 else f"{v:.3g} s"
    return f"{v:.3g}"


def _log_axis(axis: Any, fmt: Any = None) -> None:
    """Plain labels at 1, 2 and 5 times each power of ten on a log axis (no minor labels)."""
    fmt = fmt or (lambda v: f"{v:g}")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))


def _usd_log_axis(axis: Any) -> None:
    """Dollar labels at 1, 2 and 5 times each power of ten on a log axis."""
    _log_axis(axis, _fmt_usd)


def _axis_label(long_name: str, units: str) -> str:
    return f"{long_name} ({units})"


def _is_log_spaced(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=float)
    return bool(v.size > 2 and np.all(v > 0) and v.max() / v.min() >= 10)


# --- tick labels that never collide -----------------------------------------------------------

#: Label extent along a y axis (or of a label turned by 90°), and the clearance kept between
#: neighbouring labels, in font sizes.
_LINE_EM = 1.3
_GAP_EM = 0.5


def _spread_order(n: int) -> list[int]:
    """0..n-1 ordered so every prefix is spread out: both ends, then midpoints, halving."""
    if n <= 2:
        return list(range(n))
    order, queue = [0, n - 1], deque([(0, n - 1)])
    while queue:
        a, b = queue.popleft()
        if b - a >= 2:
            m = (a + b) // 2
            order.append(m)
            queue.extend(((a, m), (m, b)))
    return order


def _fontsize_pt(size: Any) -> float:
    return float(FontProperties(size=size).get_size_in_points())


def _text_width_pt(text: str, size_pt: float) -> float:
    w, _, _ = text_to_path.get_text_width_height_descent(
        text, FontProperties(size=size_pt), ismath=False
    )
    return float(w)


class _SpacedLocator(Locator):
    """Ticks at those of the candidate values whose labels fit without touching.

    Candidates are taken in priority order; one is kept when its label, centred on the tick,
    clears every label kept so far by half a font size. A label's extent along the axis is
    its text width (from the font metrics) on an x axis, or a line height on a y axis or
    when turned by 90°. With ``may_rotate`` (an x axis), labels are turned upright when
    not all of them fit side by side, and turned back when they do.
    """

    def __init__(self, fontsize: Any = None, *, may_rotate: bool = False) -> None:
        self.fontsize = fontsize
        self.may_rotate = may_rotate
        self.upright = False

    def candidates(self, vmin: float, vmax: float) -> tuple[np.ndarray, list[str], list[int]]:
        """Values, their label texts, and the order to try them in."""
        raise NotImplementedError

    def __call__(self) -> Any:
        if self.axis is None:
            return []
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        lo, hi = sorted((float(vmin), float(vmax)))
        values, texts, order = self.candidates(lo, hi)
        axis: Any = self.axis  # a real Axis once set (matplotlib types a union)
        if axis is None or values.size < 2:
            return values
        ax = axis.axes
        is_x = axis is ax.xaxis
        size = _fontsize_pt(
            self.fontsize or rcParams["xtick.labelsize" if is_x else "ytick.labelsize"]
        )
        px_per_pt = ax.figure.dpi / 72.0
        # screen positions along the axis (the other coordinate: any value in view)
        other = np.full(values.size, (ax.get_ylim() if is_x else ax.get_xlim())[0])
        pts = np.column_stack((values, other) if is_x else (other, values))
        with np.errstate(all="ignore"):
            px = ax.transData.transform(pts)[:, 0 if is_x else 1]
        line = np.full(values.size, _LINE_EM * size)
        extent = line
        if is_x:
            widths = np.array([_text_width_pt(t, size) for t in texts])
            if self.may_rotate:
                fit = _spaced(px, widths * px_per_pt, order, _GAP_EM * size * px_per_pt)
                upright = not fit[np.isfinite(px)].all()
                if upright != self.upright:
                    self.upright = upright
                    axis.set_tick_params(which="major", labelrotation=90 if upright else 0)
            extent = line if self.upright else widths
        keep = self.choose(px, extent * px_per_pt, order, _GAP_EM * size * px_per_pt)
        return np.sort(values[keep])

    def choose(
        self, px: np.ndarray, extent: np.ndarray, order: Sequence[int], gap: float
    ) -> np.ndarray:
        """Which candidates to label (a boolean mask)."""
        return _spaced(px, extent, order, gap)


def _spaced(px: np.ndarray, extent: np.ndarray, order: Sequence[int], gap: float) -> np.ndarray:
    """Which labels to keep (taken in ``order``) so that no two come within ``gap``."""
    keep = np.zeros(px.size, dtype=bool)
    kept: list[tuple[float, float, float]] = []  # (centre, left, right), sorted by centre
    for i in order:
        if not np.isfinite(px[i]):
            continue
        left, right = px[i] - extent[i] / 2, px[i] + extent[i] / 2
        j = bisect.bisect(kept, (px[i],))
        if j > 0 and left < kept[j - 1][2] + gap:
            continue
        if j < len(kept) and right + gap > kept[j][1]:
            continue
        kept.insert(j, (float(px[i]), float(left), float(right)))
        keep[i] = True
    return keep


class _ValueLocator(_SpacedLocator):
    """Ticks at sweep values (in view), spread out when they crowd: ends first, then
    midpoints."""

    def __init__(
        self, values: Sequence[float], texts: Sequence[str], fontsize: Any = None, **kw: Any
    ) -> None:
        super().__init__(fontsize, **kw)
        self.values = np.asarray(values, dtype=float)
        self.texts = list(texts)

    def candidates(self, vmin: float, vmax: float) -> tuple[np.ndarray, list[str], list[int]]:
        tol = 1e-9 * max(abs(vmin), abs(vmax), 1e-300)
        inside = np.flatnonzero((self.values >= vmin - tol) & (self.values <= vmax + tol))
        inside = inside[np.argsort(self.values[inside], kind="stable")]
        order = _spread_order(inside.size)
        return self.values[inside], [self.texts[i] for i in inside], order


class _Log125Locator(_SpacedLocator):
    """Log-axis ticks at 1, 2 and 5 times each power of ten; when they crowd, the first
    that fits of: 1 and 5 times each power, each power, every k-th power (k = 2, 3, ...)."""

    def __init__(self, fmt: Any, fontsize: Any = None) -> None:
        super().__init__(fontsize)
        self.fmt = fmt
        self.mantissa = np.array([], dtype=int)
        self.exponent = np.array([], dtype=int)

    def choose(
        self, px: np.ndarray, extent: np.ndarray, order: Sequence[int], gap: float
    ) -> np.ndarray:
        mant, exp = self.mantissa, self.exponent
        steps = [mant > 0, mant != 2] + [(mant == 1) & (exp % k == 0) for k in range(1, 16)]
        for mask in steps:
            idx = np.flatnonzero(mask)
            if idx.size and _spaced(px[idx], extent[idx], range(idx.size), gap).all():
                return mask
        return _spaced(px, extent, order, gap)

    def candidates(self, vmin: float, vmax: float) -> tuple[np.ndarray, list[str], list[int]]:
        if not (vmin > 0 and np.isfinite(vmin) and np.isfinite(vmax)):
            return np.array([]), [], []
        loc = LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=10_000)
        vals = np.asarray(loc.tick_values(vmin, vmax), dtype=float)
        vals = vals[(vals >= vmin * (1 - 1e-9)) & (vals <= vmax * (1 + 1e-9))]
        exp = np.floor(np.log10(vals) + 1e-9).astype(int)
        mant = np.round(vals / 10.0**exp).astype(int)
        self.mantissa, self.exponent = mant, exp
        rank = {1: 0, 5: 1, 2: 2}
        spread = {i: k for k, i in enumerate(_spread_order(vals.size))}
        order = sorted(range(vals.size), key=lambda i: (rank.get(int(mant[i]), 3), spread[i]))
        return vals, [str(self.fmt(v)) for v in vals], order


def _value_ticks(
    axis: Any, values: Iterable[float], texts: Sequence[str], fontsize: Any = None, **kw: Any
) -> None:
    """Label the sweep ``values`` on ``axis`` as ``texts``, as many as fit without touching
    (see :class:`_SpacedLocator`); every value keeps an unlabelled tick mark."""
    vals = [float(v) for v in values]
    labels = dict(zip(vals, texts, strict=True))
    axis.set_major_locator(_ValueLocator(vals, texts, fontsize, **kw))
    axis.set_major_formatter(FuncFormatter(lambda v, _: labels.get(float(v), "")))
    axis.set_minor_locator(FixedLocator(vals))
    axis.set_minor_formatter(NullFormatter())
    if fontsize is not None:
        axis.set_tick_params(which="major", labelsize=fontsize)


def _spaced_log_axis(axis: Any, fmt: Any = None) -> None:
    """Like :func:`_log_axis`, but labels that would touch are left out."""
    fmt = fmt or (lambda v: f"{v:g}")
    _log_axis(axis, fmt)
    axis.set_major_locator(_Log125Locator(fmt))


# --- API prices ---------------------------------------------------------------------------


def input_share(ds: xr.Dataset) -> float:
    """Share of input tokens in the volume (the sweep's ``input_share``, else its token
    rates, else the scenario)."""
    if "input_share" in ds:
        v = ds["input_share"].values.astype(float)
        v = v[np.isfinite(v)]
        if v.size:
            return float(v.mean())
    tin = ds["input_tokens_per_s"].values.astype(float)
    tout = ds["output_tokens_per_s"].values.astype(float)
    ok = np.isfinite(tin) & np.isfinite(tout) & (tin + tout > 0)
    if ok.any():
        return float(tin[ok].sum() / (tin[ok] + tout[ok]).sum())
    wl = _scenario_raw(ds).get("workload", {})
    i, o = wl.get("input_tokens"), wl.get("output_tokens")
    if isinstance(i, int | float) and isinstance(o, int | float) and i + o > 0:
        return float(i) / float(i + o)
    return 0.5


def api_prices(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Per API of the dataset: the input/output prices it recorded, the blended $/M tokens
    at the sweep's input share (:mod:`simplan.economics`), and the source."""
    if "api" not in ds.coords or "api_usd_per_mtok_input" not in ds:
        return {}  # a file written before API prices were recorded: no API lines
    share = input_share(ds)
    out: dict[str, dict[str, Any]] = {}
    for i, raw_id in enumerate(ds["api"].values):
        p_in = float(ds["api_usd_per_mtok_input"].values[i])
        p_out = float(ds["api_usd_per_mtok_output"].values[i])
        quote = ApiQuote(str(raw_id), p_in, p_out, str(ds["api_source"].values[i]))
        out[str(raw_id)] = {
            "usd_per_mtok_input": p_in,
            "usd_per_mtok_output": p_out,
            "usd_per_mtok_blended": float(quote.usd_per_mtok_blended(share)),
            "input_share": share,
            "source": quote.source,
            "as_of": "",
        }
    return out


def _draw_api_lines(ax: Axes, prices: dict[str, dict[str, Any]], *, horizontal: bool) -> None:
    for j, (aid, p) in enumerate(prices.items()):
        blended = p["usd_per_mtok_blended"]
        label = f"API {aid} ({_fmt_price(blended)}/M tok blended)"
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
            label=f"API {aid} ({_fmt_price(p['usd_per_mtok_blended'])}/M tok blended)",
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
                f"crossover {_fmt_tokens(x['volume_tokens_per_month'])} tok/mo: "
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
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_tokens(v)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_usd(v)))
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


# --- latency vs load ------------------------------------------------------------------------


def latency_vs_load(sweep_ds: xr.Dataset, *, max_lines: int = 6) -> Figure:
    """TTFT and TPOT against the offered request rate, with SLO limits and saturation.

    One line per configuration (every axis but the rate); the ``max_lines`` cheapest
    (lowest $/M tokens at a point meeting the SLO) are drawn. Mean latencies are solid,
    p95 (simulate sweeps only) dashed with hollow markers; dotted verticals mark each
    configuration's saturation rate.
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
                    label=f"SLO {slo_key} = {_fmt_value(lim, 's')}",
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
    stat = "mean and p95" if has_p95 else "mean (this sweep's method gives no p95)"
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


def run_summary(ds: xr.Dataset) -> dict[str, Any]:
    """A run's summary, read from its Dataset's variables (:mod:`simplan.dataset`)."""
    from simplan.dataset import decode_summary

    return decode_summary(ds)


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
                        _fmt_price(float(v)) if usd else _fmt_value(float(v), units),
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
            _spaced_log_axis(cb.ax.yaxis, _fmt_usd)
        elif units.startswith("USD"):
            cb.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_usd(v)))
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


def _tick(v: Any) -> str:
    return fmt_coord(v)


def _coord_label(ds: xr.Dataset, dim: str) -> str:
    units = {"rate_per_s": "requests/s", "replicas": "replicas", "tp": "GPUs", "pp": "GPUs"}
    key = str(ds[dim].attrs.get("key_path", dim))
    leaf = key.split(".")[-1]
    u = ds[dim].attrs.get("units") or units.get(leaf)
    if u is None and ds[dim].dtype.kind in "US":
        u = "catalog id"
    return f"{key} ({u})" if u else key


# --- saving and batch rendering --------------------------------------------------------------


def save(fig: Figure, path_stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<fmt>`` for each format, atomically; returns the paths."""
    from simplan.tempfiles import atomic_write

    stem = Path(path_stem)
    out = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        meta: dict[str, Any] = {"Date": None} if fmt == "svg" else {}

        def write(target: Path, fmt: str = fmt, meta: dict[str, Any] = meta) -> None:
            fig.savefig(target, format=fmt, dpi=DPI, metadata=meta)

        atomic_write(path, write)
        out.append(path)
    return out


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (for embedding)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def open_results(path: str | Path, *, load: bool = True) -> xr.Dataset:
    """Open a run (a results folder or results.nc) or a sweep (.nc or .zarr).

    With ``load`` (for plotting), the Dataset is read into memory, a sweep of more than
    :data:`MAX_PLOT_POINTS` points thinned (:func:`plottable`); without, a sweep stays
    lazy, for reductions over the whole grid (:mod:`simplan.sweep.summary`).
    """
    p = Path(path)
    if p.is_dir() and (p / "results.nc").exists():
        p = p / "results.nc"
    if not p.exists():
        raise SimplanError("no such results file or folder", source=str(p))
    try:
        if p.suffix == ".zarr" or (p.is_dir() and (p / ".zgroup").exists()):
            raw = xr.open_zarr(p, consolidated=False)
        else:
            raw = xr.open_dataset(p, engine="h5netcdf")
    except Exception as exc:  # unreadable or not a dataset
        raise SimplanError(f"cannot read results ({exc})", source=str(p)) from None
    from simplan.sweep.store import BLOCK_DONE, TASK_DONE

    raw = raw.drop_vars([BLOCK_DONE, TASK_DONE], errors="ignore")
    if not load and not is_run(raw):
        return raw
    with raw:
        return plottable(raw)


def plottable(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` in memory, a sweep thinned to at most :data:`MAX_PLOT_POINTS` points."""
    if not is_run(ds) and "usd_per_mtok_total" in ds:
        ds = thin_sweep(ds)
    return ds.load()


#: The most grid points a sweep plot or report reads (larger grids are thinned).
MAX_PLOT_POINTS = 1_000_000


def thin_sweep(ds: xr.Dataset, max_points: int | None = None) -> xr.Dataset:
    """Every k-th value along the longest sweep axes, so at most ``max_points`` are read
    (:data:`MAX_PLOT_POINTS` by default).

    A chart of millions of points shows no more than one of a million, and a store larger
    than memory cannot be loaded: the first and last value of every axis are kept, and
    the title of each figure says what was thinned (``attrs["thinned"]``).
    """
    max_points = MAX_PLOT_POINTS if max_points is None else max_points
    dims = sweep_dims(ds)
    stride = dict.fromkeys(dims, 1)
    size = {d: int(ds.sizes[d]) for d in dims}

    def kept(d: str) -> int:
        return len(range(0, size[d], stride[d])) + ((size[d] - 1) % stride[d] != 0)

    while math.prod(kept(d) for d in dims) > max_points:
        longest = max(dims, key=kept)
        if kept(longest) <= 2:
            break
        stride[longest] *= 2
    if all(k == 1 for k in stride.values()):
        return ds
    index = {
        d: np.unique(np.r_[np.arange(0, size[d], stride[d]), size[d] - 1])
        for d in dims
        if stride[d] > 1
    }
    out = ds.isel(index)
    what = ", ".join(f"1 in {stride[d]} values of {d}" for d in index)
    out.attrs["thinned"] = (
        f"plotted {what} ({math.prod(kept(d) for d in dims):,} of "
        f"{math.prod(size.values()):,} points)"
    )
    return out


def is_run(ds: xr.Dataset) -> bool:
    return "request" in ds.dims


def _is_elastic_run(ds: xr.Dataset) -> bool:
    """A run whose fleet changed: replicas off/starting/failed, or API overflow."""
    if "replica_state" not in ds:
        return False
    changed = bool((ds["replica_state"].values != 2).any())
    api = (
        "api_cost_usd_cum" in ds
        and float(np.nanmax(ds["api_cost_usd_cum"].values, initial=0.0)) > 0
    )
    return changed or api


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


def applicable_kinds(ds: xr.Dataset) -> list[str]:
    """The plot kinds that apply to a dataset, in rendering order."""
    if is_run(ds):
        return ["timeline", "fleet"] if _is_elastic_run(ds) else ["timeline"]
    if "usd_per_mtok_total" not in ds:
        return []
    kinds = ["utilization_vs_cost", "cost_vs_volume"]
    if _dim_for(ds, RATE_KEY) is not None:
        kinds.append("latency_vs_load")
    if len(sweep_dims(ds)) >= 2:
        kinds.append("sweep_map")
    return kinds


def render(ds: xr.Dataset, kind: str) -> Figure:
    """One plot kind of a dataset with the defaults ``plot_results`` uses."""
    try:
        return _render(ds, kind)
    except KeyError as exc:
        version = ds.attrs.get("simplan_version", "an unknown version")
        raise SimplanError(
            f"cannot draw {kind!r}: the results lack {exc.args[0]!r} (written by simplan "
            f"{version}); rerun the run or sweep with this simplan to plot it"
        ) from None


def _render(ds: xr.Dataset, kind: str) -> Figure:
    if kind == "timeline":
        return run_timeline(ds)
    if kind == "fleet":
        return fleet_timeline(ds)
    if kind == "utilization_vs_cost":
        return utilization_vs_cost(ds)
    if kind == "cost_vs_volume":
        return cost_vs_volume(ds)
    if kind == "latency_vs_load":
        return latency_vs_load(ds)
    if kind == "sweep_map":
        dims = sweep_dims(ds)
        return sweep_map(
            ds, "usd_per_mtok_total", dims[0], dims[1], dims[2] if len(dims) > 2 else None
        )
    raise SimplanError(f"unknown plot kind {kind!r} (allowed: {', '.join(KINDS)})")


def select_kinds(ds: xr.Dataset, kinds: Iterable[str] | None) -> list[str]:
    """``kinds`` checked against what applies (all applicable ones when None)."""
    ok = applicable_kinds(ds)
    if kinds is None:
        return ok
    wanted = list(kinds)
    for k in wanted:
        if k not in KINDS:
            raise SimplanError(f"unknown plot kind {k!r} (allowed: {', '.join(KINDS)})")
        if k not in ok:
            what = "run" if is_run(ds) else "sweep"
            raise SimplanError(
                f"plot kind {k!r} does not apply to this {what} (applicable: {', '.join(ok)})"
            )
    return wanted


def plot_results(
    path: str | Path, kinds: Iterable[str] | None = None, out_dir: str | Path | None = None
) -> list[Path]:
    """Render every applicable plot kind of a run or sweep and save PNG and SVG files.

    Parameters
    ----------
    path : str or Path
        A run's ``results.nc`` (or its folder), or a sweep's ``.nc`` / ``.zarr``.
    kinds : iterable of str, optional
        Plot kinds to render (default: every one that applies; see :data:`KINDS`).
    out_dir : str or Path, optional
        Where to write; default beside the input. Files are named ``<kind>.png`` for a
        run and ``<sweep stem>_<kind>.png`` for a sweep.

    Returns
    -------
    list of Path
        The files written (PNG and SVG per kind).
    """
    ds = open_results(path)
    p = Path(path)
    src = p / "results.nc" if p.is_dir() and (p / "results.nc").exists() else p
    out = Path(out_dir) if out_dir is not None else src.parent
    written: list[Path] = []
    for kind in select_kinds(ds, kinds):
        fig = render(ds, kind)
        stem = kind if is_run(ds) else f"{src.stem}_{kind}"
        written += save(fig, out / stem)
        fig.clear()
    return written


__all__ = [
    "KINDS",
    "api_prices",
    "applicable_kinds",
    "cost_vs_volume",
    "crossovers",
    "latency_vs_load",
    "open_results",
    "plot_results",
    "plottable",
    "png_bytes",
    "render",
    "run_timeline",
    "save",
    "slo_limits",
    "sweep_map",
    "utilization_vs_cost",
]
