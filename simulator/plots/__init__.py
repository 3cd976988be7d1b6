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

One module per job: :mod:`~simplan.plots.style` (palette, formats, axes),
:mod:`~simplan.plots.ticks` (labels that never collide), :mod:`~simplan.plots.read` (what
plots and the report read from a Dataset), one module per plot family
(:mod:`~simplan.plots.economics`, :mod:`~simplan.plots.latency`,
:mod:`~simplan.plots.timeline`, :mod:`~simplan.plots.sweep_map`) and
:mod:`~simplan.plots.render` (saving and rendering every applicable kind).
"""

from simplan.plots.economics import cost_vs_volume, crossovers, utilization_vs_cost
from simplan.plots.latency import latency_vs_load
from simplan.plots.read import (
    MAX_PLOT_POINTS,
    api_prices,
    fact,
    fmt_coord,
    input_share,
    is_run,
    open_results,
    plottable,
    run_summary,
    slo_limits,
    slo_passes,
    slo_unverified,
    sweep_dims,
    thin_sweep,
)
from simplan.plots.render import (
    applicable_kinds,
    plot_results,
    png_bytes,
    render,
    save,
    select_kinds,
)
from simplan.plots.style import KINDS, MARKERS, RATE_KEY, REPLICAS_KEY, RUN_KINDS, SWEEP_KINDS
from simplan.plots.sweep_map import sweep_map
from simplan.plots.timeline import fleet_timeline, run_timeline

__all__ = [
    "KINDS",
    "MARKERS",
    "MAX_PLOT_POINTS",
    "RATE_KEY",
    "REPLICAS_KEY",
    "RUN_KINDS",
    "SWEEP_KINDS",
    "api_prices",
    "applicable_kinds",
    "cost_vs_volume",
    "crossovers",
    "fact",
    "fleet_timeline",
    "fmt_coord",
    "input_share",
    "is_run",
    "latency_vs_load",
    "open_results",
    "plot_results",
    "plottable",
    "png_bytes",
    "render",
    "run_summary",
    "run_timeline",
    "save",
    "select_kinds",
    "slo_limits",
    "slo_passes",
    "slo_unverified",
    "sweep_dims",
    "sweep_map",
    "thin_sweep",
    "utilization_vs_cost",
]
