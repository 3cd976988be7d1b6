"""Figure style shared by every plot: palette, markers, sizes, titles, number formats and
log axes.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    NullFormatter,
)
from simplan.economics import HOURS_PER_MONTH
from simplan.formatting import usd_compact

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


def _log_axis(axis: Any, fmt: Any = None) -> None:
    """Plain labels at 1, 2 and 5 times each power of ten on a log axis (no minor labels)."""
    fmt = fmt or (lambda v: f"{v:g}")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))


def _usd_log_axis(axis: Any) -> None:
    """Dollar labels at 1, 2 and 5 times each power of ten on a log axis."""
    _log_axis(axis, usd_compact)


def _axis_label(long_name: str, units: str) -> str:
    return f"{long_name} ({units})"


def _is_log_spaced(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=float)
    return bool(v.size > 2 and np.all(v > 0) and v.max() / v.min() >= 10)
