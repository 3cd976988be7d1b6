"""Assembling the report from a run or sweep Dataset and writing it atomically."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from simplan import __version__, plots
from simplan.report.answer import (
    _summary,
    cheapest_point,
    run_answer,
    run_how_sure,
    sweep_answer,
)
from simplan.report.markup import _CSS, _e
from simplan.report.sections import (
    _assumptions_html,
    _figures_html,
    _notes_html,
    _run_summary_html,
    _sweep_summary_html,
)
from simplan.tempfiles import atomic_write

# --- the report ---------------------------------------------------------------------------


def build_report(ds: xr.Dataset) -> str:
    """The report's HTML text for a loaded run or sweep Dataset."""

    run = plots.is_run(ds)
    # a sweep's grid is read once, in blocks, for every figure the report quotes
    summary = plots.run_summary(ds) if run else _summary(ds, top=10)
    name = plots.fact(ds, "scenario_name") or summary.get("scenario") or ds.attrs.get("title")
    question = plots.fact(ds, "question") or "(the scenario states no question)"
    answer = run_answer(ds) if run else sweep_answer(ds, summary)
    sure = run_how_sure(ds) if run else None
    meta = [
        f"simplan {ds.attrs.get('simplan_version', __version__)}",
        f"scenario hash {ds.attrs.get('scenario_hash', '?')}",
        f"seed {ds.attrs.get('seed', '?')}",
    ]
    if not run:
        meta.append(f"{ds.attrs.get('method', '?')} method")
    kind = "run" if run else "sweep"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(name)} — simplan {kind} report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(name)}</h1>",
        f'<p class="meta">simplan {kind} report · {_e(" · ".join(meta))}</p>',
        f'<p class="question"><strong>Question:</strong> {_e(question)}</p>',
        f'<p class="answer"><strong>Answer:</strong> {_e(answer)}</p>',
        f'<p class="sure">{_e(sure)}</p>' if sure else "",
        "<h2>Summary</h2>",
        _run_summary_html(summary) if run else _sweep_summary_html(ds, summary),
        "<h2>Plots</h2>",
        _figures_html(ds),
        "<h2>Assumptions</h2>",
        "<p>Catalog entries used, with their sources; the performance model's fitted "
        "efficiency factors and its calibration error against published measurements.</p>",
        _assumptions_html(ds),
        "<h2>Infeasibility notes</h2>",
        _notes_html(ds, summary),
        "<h2>Scenario file</h2>",
        f"<pre>{_e(ds.attrs.get('scenario_toml', ''))}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(path: str | Path, out_html: str | Path | None = None) -> Path:
    """Write the HTML report of a run (results folder or results.nc) or a sweep (.nc/.zarr).

    Parameters
    ----------
    path : str or Path
        The results to report on.
    out_html : str or Path, optional
        Output file; default ``report.html`` in a run's folder, ``<stem>_report.html``
        beside a sweep.

    Returns
    -------
    Path
        The report written (atomically).
    """
    ds = plots.open_results(path, load=False)  # numbers from every point; figures thinned
    p = Path(path)
    src = p / "results.nc" if p.is_dir() and (p / "results.nc").exists() else p
    if out_html is None:
        out = (
            src.parent / "report.html"
            if plots.is_run(ds)
            else src.with_name(f"{src.stem}_report.html")
        )
    else:
        out = Path(out_html)
    text = build_report(ds)

    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    atomic_write(out, write)
    return out


__all__ = ["build_report", "cheapest_point", "run_answer", "sweep_answer", "write_report"]
