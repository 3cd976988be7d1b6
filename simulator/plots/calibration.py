"""Predicted against measured, before and after ``simplan calibrate``: one panel per metric
family, log axes, the diagonal and the 80% band the fit states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from simplan.plots.style import DPI, OKABE_ITO, _figure, _log_axis

_PANELS = (
    ("ttft", "TTFT (s)"),
    ("tpot", "TPOT (s)"),
    ("e2e", "end-to-end latency (s)"),
    ("output_tokens_per_s", "output tokens/s"),
)


def calibration_figure(summary: dict[str, Any]) -> Any:
    """The figure of a :func:`simplan.calibrate.calibrate` summary."""
    panels = [
        (fam, label)
        for fam, label in _PANELS
        if any(
            k == fam or k.startswith(fam + "_") for run in summary["per_run"] for k in run["fields"]
        )
    ]
    fig = _figure((4.2 * max(len(panels), 1), 4.4))
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for ax, (fam, label) in zip(axes, panels, strict=False):
        pts = [
            (f["measured"], f["before"], f["after"])
            for run in summary["per_run"]
            for k, f in run["fields"].items()
            if k == fam or k.startswith(fam + "_")
        ]
        m, b, a = (np.array(x, dtype=float) for x in zip(*pts, strict=True))
        lo = float(min(m.min(), b.min(), a.min())) / 1.5
        hi = float(max(m.max(), b.max(), a.max())) * 1.5
        grid = np.geomspace(lo, hi, 50)
        ax.plot(grid, grid, color="#555555", lw=1.0, ls=(0, (6, 3)), label="predicted = measured")
        band = summary.get("band_80", {}).get(fam)
        if band:
            ax.fill_between(
                grid,
                grid / band,
                grid * band,
                color="#cccccc",
                alpha=0.5,
                lw=0,
                label=f"80% band (x/{band:.2f})",
            )
        ax.scatter(m, b, marker="o", facecolor="white", edgecolor=OKABE_ITO[0], label="catalog")
        ax.scatter(m, a, marker="s", color=OKABE_ITO[3], label="calibrated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axis(ax.xaxis)
        _log_axis(ax.yaxis)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"measured {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.legend(fontsize="small", loc="upper left")
    fitted = ", ".join(f"{k} = {v:.3g}" for k, v in summary["fitted"].items()) or "nothing fitted"
    fig.suptitle(f"simplan calibrate: {summary['runs']} run(s); {fitted}", fontsize="medium")
    return fig


def write_calibration_plot(summary: dict[str, Any], path: Path) -> None:
    """Write the calibration figure as PNG to ``path`` (any name: the format is explicit)."""
    calibration_figure(summary).savefig(path, format="png", dpi=DPI)
