"""Saving figures and rendering every applicable kind of a results file."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import xarray as xr
from matplotlib.figure import Figure
from simplan.errors import SimplanError
from simplan.plots.economics import cost_vs_volume, utilization_vs_cost
from simplan.plots.latency import latency_vs_load
from simplan.plots.read import (
    _dim_for,
    _is_elastic_run,
    is_run,
    open_results,
    sweep_dims,
)
from simplan.plots.style import DPI, KINDS, RATE_KEY
from simplan.plots.sweep_map import sweep_map
from simplan.plots.timeline import fleet_timeline, run_timeline
from simplan.tempfiles import atomic_write

# --- saving and batch rendering --------------------------------------------------------------


def save(fig: Figure, path_stem: str | Path, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<fmt>`` for each format, atomically; returns the paths."""
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
