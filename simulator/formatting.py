"""Numbers as people read them: one rule per kind of figure, for the console, the plots and
the report alike, so a figure prints the same wherever a planner meets it.

Every function takes None or NaN for a figure that does not exist and prints ``–``.
"""

from __future__ import annotations

import math
from typing import Any

MISSING = "–"


def _missing(x: Any) -> bool:
    return x is None or not math.isfinite(float(x))


def usd(x: float | None, digits: int = 2) -> str:
    """Dollars: ``$0.94``, ``$14,600.00``, ``-$3.10``; ``digits=0`` for whole dollars."""
    if _missing(x):
        return MISSING
    assert x is not None
    return f"-${-x:,.{digits}f}" if x < 0 else f"${x:,.{digits}f}"


def price(x: float | None) -> str:
    """A price per million tokens with enough digits to compare: ``$4.23``, ``$0.439``,
    ``$0.0001``."""
    if _missing(x):
        return MISSING
    assert x is not None
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:.3g}"


def seconds(x: float | None) -> str:
    """A latency: milliseconds below ten seconds (``850 ms``), else seconds (``12.5 s``)."""
    if _missing(x):
        return MISSING
    assert x is not None
    return f"{x * 1e3:,.0f} ms" if x < 10 else f"{x:,.1f} s"


def tokens(x: float | None) -> str:
    """A token volume in millions or billions: ``850 M``, ``15.5 B``."""
    if _missing(x):
        return MISSING
    assert x is not None
    return f"{x / 1e6:,.0f} M" if x < 1e9 else f"{x / 1e9:,.1f} B"


def share(x: float | None) -> str:
    """A fraction as a percentage: ``65%``."""
    return MISSING if _missing(x) else f"{x:.0%}"


def usd_compact(x: float) -> str:
    """Dollars on an axis or a bar label: ``$1.2M``, ``$350k``, ``$4.5``, ``$0.12``."""
    if x >= 1e6:
        return f"${x / 1e6:.3g}M"
    if x >= 1e3:
        return f"${x / 1e3:.3g}k"
    if x >= 1:
        return f"${x:.3g}"
    return f"${x:.2g}"


def tokens_compact(x: float) -> str:
    """A token volume on an axis: ``3.6 B``, ``850 M``, ``1.2 T``, ``12 k``."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            v = x / scale
            return f"{v:.2g} {unit}" if v < 10 else f"{v:,.0f} {unit}"
    return f"{x:.3g}"


def by_units(x: float, units: str) -> str:
    """A figure by its Dataset units (``USD...``, ``1`` for a fraction, ``s``), as a plot
    labels a cell or a point."""
    if units.startswith("USD"):
        return usd(x, 2 if x < 100 else 0)
    if units == "1":
        return share(x) if 0 <= x <= 1 else f"{x:.3g}"
    if units == "s":
        return seconds(x)
    return f"{x:.3g}"
