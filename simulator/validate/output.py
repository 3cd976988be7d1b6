"""What `simplan validate` writes: the per-row CSV and the predicted-vs-measured plot."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from simplan.tempfiles import atomic_write
from simplan.validate.rows import Row


def rows_as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [
        {
            "line": r.line,
            "source_id": r.source_id,
            "model": r.model,
            "gpu": r.gpu,
            "metric": r.metric,
            "unit": r.unit,
            "measured": r.measured,
            "predicted": r.predicted,
            "rel_error": r.rel_error,
            "config": r.config,
            "model_family": r.model_family,
            "architecture": r.architecture,
            "gpu_family": r.gpu_family,
            "engine": r.engine,
            "skipped": r.skipped or "",
        }
        for r in rows
    ]


def write_rows_csv(rows: list[Row], path: Path) -> None:
    """The per-row predictions as CSV (written atomically)."""
    buf = io.StringIO()
    dicts = rows_as_dicts(rows)
    writer = csv.DictWriter(buf, fieldnames=list(dicts[0]) if dicts else ["line"])
    writer.writeheader()
    writer.writerows(dicts)
    text = buf.getvalue()

    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def plot_predicted_vs_measured(rows: list[Row], path: Path) -> None:
    """Predicted against measured on log-log axes, one marker per source (PNG or SVG)."""
    # deferred (0.4 s): only a validation that writes its plot draws
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    markers = "osD^v<>ph*"
    groups = {
        "throughput (tokens/s)": ("tokens/s", "tokens/s/GPU"),
        "latency (s or ms)": ("s", "ms"),
    }
    sources = sorted({r.source_id for r in rows if r.predicted is not None})
    for ax, (title, units) in zip(axes, groups.items(), strict=True):
        lo, hi = math.inf, 0.0
        for i, src in enumerate(sources):
            pts = [
                (r.measured, r.predicted)
                for r in rows
                if r.source_id == src and r.predicted is not None and r.unit in units
            ]
            if not pts:
                continue
            m, p = np.array(pts).T
            ax.scatter(
                m, p, marker=markers[i % len(markers)], s=22, alpha=0.75, label=src, color=f"C{i}"
            )
            lo, hi = min(lo, m.min(), p.min()), max(hi, m.max(), p.max())
        if hi > 0:
            xs = np.array([lo / 1.5, hi * 1.5])
            ax.plot(xs, xs, "k-", lw=1, label="predicted = measured")
            ax.plot(xs, xs * 1.15, "k:", lw=0.8, label="±15%")
            ax.plot(xs, xs / 1.15, "k:", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(f"measured {title}")
        ax.set_ylabel(f"predicted {title}")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:  # a panel with no predicted row has none
            ax.legend(fontsize=8)
    fig.suptitle("simplan validate: predicted vs published measurements")
    fmt = path.suffix.lstrip(".") or "png"
    atomic_write(path, lambda p: fig.savefig(p, format=fmt, dpi=120))
    plt.close(fig)
