"""Tick locators whose labels never collide, measured in points of the rendered font."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib import rcParams
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    Locator,
    LogLocator,
    NullFormatter,
)
from simplan.plots.style import _log_axis

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
