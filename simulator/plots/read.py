"""The read side: what the plots and the report take from a run or sweep Dataset (facts,
SLO verdicts, axes, API prices) and opening, thinning and classifying results files.
Nothing here draws.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan.dataset import BLOCK_DONE, TASK_DONE, decode_summary
from simplan.economics import ApiQuote
from simplan.errors import SimplanError
from simplan.plots.style import REPLICAS_KEY
from simplan.slo import MISSED as SLO_MISSED
from simplan.slo import NOT_VERIFIED as SLO_NOT_VERIFIED


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
    fast model cannot tell a predicted percentile from its limit within its error
    (``slo_status``)."""
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


def _cached_share(ds: xr.Dataset, api: int) -> float:
    """The share of input an API bills at its cached price: a run records it per API, a
    sweep per point (its mean here, for lines drawn over the whole sweep); 0 in files
    written before it was recorded."""
    if "api_cached_input_share" in ds:
        return float(ds["api_cached_input_share"].values[api])
    if "cached_input_share" in ds:
        values = np.asarray(ds["cached_input_share"].values, dtype=float)
        return float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
    return 0.0


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
        # the cached-input terms, where the file records them (absent: list prices only)
        p_cached = (
            float(ds["api_usd_per_mtok_cached_input"].values[i])
            if "api_usd_per_mtok_cached_input" in ds
            else np.nan
        )
        cached_share = _cached_share(ds, i)
        quote = ApiQuote(
            str(raw_id),
            p_in,
            p_out,
            str(ds["api_source"].values[i]),
            None if np.isnan(p_cached) else p_cached,
            cached_input_share=cached_share,
        )
        out[str(raw_id)] = {
            "usd_per_mtok_input": p_in,
            "usd_per_mtok_output": p_out,
            "usd_per_mtok_blended": float(quote.usd_per_mtok_blended(share)),
            "input_share": share,
            "source": quote.source,
            "as_of": "",
        }
    return out


def run_summary(ds: xr.Dataset) -> dict[str, Any]:
    """A run's summary, read from its Dataset's variables (:mod:`simplan.dataset`)."""
    return decode_summary(ds)


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


#: Dataset attribute where ``sweep --verify`` records its simulations (a JSON list).
VERIFICATION_ATTR = "verification"


def verification_records(ds: xr.Dataset) -> list[dict[str, Any]]:
    """The points ``sweep --verify`` simulated (:mod:`simplan.sweep.verified`): each with
    its coordinates (``point``), ``holds``, ``seeds`` and ``achieved`` values per
    objective and seed; none for an unverified sweep."""
    text = ds.attrs.get(VERIFICATION_ATTR)
    return json.loads(text) if isinstance(text, str) and text else []
