"""The console view of a `simplan calibrate` summary: factors, errors, bands."""

from __future__ import annotations

import os
from typing import Any

from rich.markup import escape
from rich.table import Table
from simplan.console import make_console

_UNITS = {"iteration_overhead_s": (1e3, "ms"), "sequence_overhead_s": (1e6, "us")}


def _factor(name: str, value: float) -> str:
    scale, unit = _UNITS.get(name, (1.0, ""))
    return f"{value * scale:.3g}{' ' + unit if unit else ''}"


def print_calibration(s: dict[str, Any]) -> None:
    """Print what :func:`simplan.calibrate.calibrate` found."""
    console = make_console()
    t = Table(title=f"calibrated from {s['runs']} run(s), {s['fields']} measured fields")
    for col in ("factor", "fitted", "80% interval", "note"):
        t.add_column(col)
    for name, value in s["fitted"].items():
        lo, hi = s["intervals_80"].get(name, (value, value))
        t.add_row(name, _factor(name, value), f"{_factor(name, lo)} - {_factor(name, hi)}", "")
    for name, why in s["held"].items():
        t.add_row(name, "catalog", "", why)
    console.print(t)
    e = Table(title="median |predicted / measured - 1| by field")
    for col in ("field", "runs", "catalog", "calibrated", "held-out run", "80% band"):
        e.add_column(col, justify="right" if col != "field" else "left")
    for key, v in s["error"].items():
        fam = key if key == "output_tokens_per_s" else key.split("_", 1)[0]
        band = s["band_80"].get(fam)
        loo = v.get("leave_one_run_out")
        e.add_row(
            key,
            str(v["runs"]),
            f"{v['before']:.1%}",
            f"{v['after']:.1%}",
            f"{loo:.1%}" if loo is not None else "-",
            f"x/{band:.2f}" if band else "-",
        )
    console.print(e)
    for note in s["notes"]:
        console.print(escape(f"note: {note}"))
    for run in s["per_run"]:
        for note in run["notes"]:
            console.print(escape(f"note ({run['source']}): {note}"))
    if "profile" in s:
        relative = os.path.relpath(s["profile"], os.path.dirname(os.path.abspath(s["scenario"])))
        console.print(
            escape(
                f"wrote {s['profile']} and {s['plot']}; apply it in {s['scenario']} with "
                f'[engine] calibration = "{relative}"'
            )
        )
