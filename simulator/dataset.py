"""The result Dataset as the contract between computing and reading.

A run's headline figures, SLO verdicts, API comparison and provenance are stored as
variables with units (never as a JSON string attribute), so plots, the report and any
user's own code read the Dataset alone, and an old result file renders as it was
computed:

* every scalar of the summary is a 0-d variable (``monthly_cost_usd``, ``mfu``...);
* latency statistics are ``latency_s(metric, stat)``;
* objectives are ``slo_limit_s``, ``slo_achieved_s``, ``slo_met`` along ``objective``;
* hours of a daily cycle are ``slo_hour_*`` along ``hour``;
* API figures are ``api_*`` along ``api``;
* elastic and saturation figures are ``elastic_*`` and ``saturation_*`` (money by
  pricing part along ``part``);
* notes and reject reasons are string variables along ``note`` and ``reject_reason``;
* provenance (every catalog entry used, the prices applied, the calibration error) is
  ``provenance_*`` along ``provenance``.

:func:`encode_summary` builds these variables from a summary dict and
:func:`decode_summary` reads the same dict back (from a file written before this
contract, from its ``summary_json`` attribute).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr
from simplan.rate_limits import TEXT_FIELDS

LATENCY_METRICS = ("ttft", "tpot", "e2e", "queue_delay")
STATS = ("mean", "p50", "p90", "p95", "p99")
PROVENANCE_FIELDS = ("what", "id", "detail", "source", "as_of")
#: Per-API figures kept as text along ``api``; every other one is a number.
API_TEXT_FIELDS = ("source", *TEXT_FIELDS)

#: The variables that mark a sweep store's finished blocks (fast, along ``block``) and
#: tasks (simulate, along ``task``): bookkeeping for resuming, dropped when read.
BLOCK_DONE, TASK_DONE = "block_done", "task_done"


def units_for(name: str) -> str:
    """Units of a summary figure, from the suffix convention of its name."""
    rules = (
        ("usd_per_mtok", "USD/Mtok"),
        ("usd_per_hour", "USD/hour"),
        ("_mtok_per_month", "Mtok/month"),
        ("_tokens_per_month", "tokens/month"),
        ("monthly_tokens", "tokens/month"),
        ("tokens_per_s", "tokens/s"),
        ("requests_per_s", "requests/s"),
        ("_usd", "USD"),
        ("_hours", "hours"),
        ("_s", "s"),
        ("_tokens", "tokens"),
    )
    for suffix, units in rules:
        if suffix in name:
            return units
    return "1"


def _scalar_var(value: Any, name: str) -> tuple[tuple[()], Any, dict[str, str]]:
    if isinstance(value, bool):
        return ((), np.int8(value), {"units": "1", "flag_values": "0 1", "flag_meanings": "no yes"})
    if value is None:
        return ((), np.nan, {"units": units_for(name)})
    if isinstance(value, int):
        return ((), np.int64(value), {"units": units_for(name)})
    if isinstance(value, float):
        return ((), float(value), {"units": units_for(name)})
    return ((), str(value), {})


def encode_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Dataset variables (name -> (dims, values, attrs)) holding a run summary."""
    data: dict[str, Any] = {}
    nested = {
        "api",
        "slo",
        "elastic",
        "saturation",
        "slo_hourly",
        "notes",
        "reject_reasons",
        "job",
    }
    for key, value in summary.items():
        if key in nested or key in (f"{m}_s" for m in LATENCY_METRICS):
            continue
        if isinstance(value, dict | list):
            continue
        data[key] = _scalar_var(value, key)
    lat = np.array(
        [
            [np.nan if summary[f"{m}_s"][s] is None else summary[f"{m}_s"][s] for s in STATS]
            for m in LATENCY_METRICS
        ],
        dtype=float,
    )
    data["latency_s"] = (("metric", "stat"), lat, {"units": "s", "long_name": "latency statistics"})
    slo = summary.get("slo") or {}
    keys = list(slo)
    data["slo_limit_s"] = ("objective", [slo[k]["limit"] for k in keys], {"units": "s"})
    data["slo_achieved_s"] = (
        "objective",
        [np.nan if slo[k]["achieved"] is None else slo[k]["achieved"] for k in keys],
        {"units": "s"},
    )
    data["slo_met_objective"] = (
        "objective",
        np.array([slo[k]["met"] for k in keys], np.int8),
        {"units": "1", "flag_values": "0 1", "flag_meanings": "no yes"},
    )
    hours = summary.get("slo_hourly") or []
    data["slo_hour_requests"] = (
        "hour",
        np.array([h["requests"] for h in hours], np.int64),
        {"units": "1"},
    )
    data["slo_hour_attainment"] = (
        "hour",
        np.array([h["attainment"] for h in hours], float),
        {"units": "1"},
    )
    # met: 1/0, NaN where the scenario sets no objective
    data["slo_hour_met"] = (
        "hour",
        np.array([_nan(None if h["met"] is None else float(h["met"])) for h in hours], float),
        {"units": "1"},
    )
    apis = summary.get("api") or {}
    fields = sorted({f for a in apis.values() for f in a})
    for field in fields:
        values = [apis[a].get(f"{field}") for a in apis]
        if field in API_TEXT_FIELDS:
            data[f"api_{field}"] = ("api", _strings(["" if v is None else v for v in values]), {})
        else:
            arr = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
            data[f"api_{field}"] = ("api", arr, {"units": units_for(field)})
    for part in ("elastic", "saturation"):
        for key, value in (summary.get(part) or {}).items():
            if isinstance(value, dict):
                data[f"{part}_{key}"] = (
                    "part",
                    [float(value.get(p, 0.0)) for p in ("on_demand", "reserved", "spot", "api")],
                    {"units": units_for(key)},
                )
            elif not isinstance(value, list):
                data[f"{part}_{key}"] = _scalar_var(value, key)
    job = summary.get("job")
    if job:
        for key, value in job.items():
            if key == "api":
                ids = list(value)
                for field in ("list_usd", "batch_usd", "batch_discount"):
                    data[f"job_api_{field}"] = (
                        "job_api",
                        np.array([_nan(value[a][field]) for a in ids], dtype=float),
                        {"units": "1" if field == "batch_discount" else "USD"},
                    )
                data["job_api_batch_source"] = (
                    "job_api",
                    _strings([value[a]["batch_source"] or "" for a in ids]),
                    {},
                )
            elif key == "fleet_cost_by_pricing_usd":
                data["job_fleet_cost_by_pricing_usd"] = (
                    "pricing_mode",
                    np.array([value[m] for m in value], dtype=float),
                    {"units": "USD"},
                )
            else:
                data[f"job_{key}"] = _scalar_var(value, key)
    data["notes"] = ("note", _strings(summary.get("notes") or []), {})
    data["reject_reason_names"] = (
        "reject_reason",
        _strings(summary.get("reject_reasons") or []),
        {},
    )
    return data


def summary_coords(summary: dict[str, Any]) -> dict[str, Any]:
    """Coordinates of the summary variables."""
    coords: dict[str, Any] = {
        "metric": list(LATENCY_METRICS),
        "stat": list(STATS),
        "objective": list(summary.get("slo") or {}),
        "hour": [int(h["hour"]) for h in summary.get("slo_hourly") or []],
        "api": list(summary.get("api") or {}),
    }
    if summary.get("elastic"):
        coords["part"] = ["on_demand", "reserved", "spot", "api"]
    job = summary.get("job")
    if job:
        coords["job_api"] = list(job["api"])
        coords["pricing_mode"] = list(job["fleet_cost_by_pricing_usd"])
    return coords


def decode_summary(ds: xr.Dataset) -> dict[str, Any]:
    """The summary dict of a run's Dataset (the inverse of :func:`encode_summary`)."""
    if "latency_s" not in ds:
        try:
            old = json.loads(str(ds.attrs.get("summary_json", "{}")))
        except ValueError:
            return {}
        return old if isinstance(old, dict) else {}
    out: dict[str, Any] = {}
    for name, var in ds.data_vars.items():
        key = str(name)
        if var.ndim == 0 and not key.startswith(("elastic_", "saturation_", "job_")):
            out[key] = _py(var)
    lat = ds["latency_s"]
    for m in LATENCY_METRICS:
        out[f"{m}_s"] = {s: _num(lat.sel(metric=m, stat=s).item()) for s in STATS}
    out["slo"] = {
        str(k): {
            "limit": float(ds["slo_limit_s"].sel(objective=k)),
            "achieved": _num(ds["slo_achieved_s"].sel(objective=k).item()),
            "met": bool(ds["slo_met_objective"].sel(objective=k)),
        }
        for k in ds["objective"].values
    }
    out["slo_hourly"] = [
        {
            "hour": int(h),
            "requests": int(ds["slo_hour_requests"].sel(hour=h)),
            "attainment": float(ds["slo_hour_attainment"].sel(hour=h)),
            "met": _flag(ds["slo_hour_met"].sel(hour=h).item()),
        }
        for h in ds["hour"].values
    ]
    out["api"] = {}
    for a in ds["api"].values if "api" in ds.coords else []:
        entry: dict[str, Any] = {}
        for name in ds.data_vars:
            key = str(name)
            if key.startswith("api_") and ds[key].dims == ("api",):
                v = ds[key].sel(api=a).item()
                field = key[4:]
                if field in API_TEXT_FIELDS:
                    entry[field] = str(v) or None
                else:
                    entry[field] = _num(v)
        if "breakeven_within_capacity" in entry:
            entry["breakeven_within_capacity"] = bool(entry["breakeven_within_capacity"])
        out["api"][str(a)] = entry
    for part in ("elastic", "saturation"):
        names = [str(n) for n in ds.data_vars if str(n).startswith(f"{part}_")]
        if names:
            out[part] = {}
            for n in names:
                var = ds[n]
                key = n[len(part) + 1 :]
                if var.dims == ("part",):
                    out[part][key] = {str(p): float(var.sel(part=p)) for p in ds["part"].values}
                else:
                    out[part][key] = _py(var)
    job_vars = [str(n) for n in ds.data_vars if str(n).startswith("job_")]
    if job_vars:
        job: dict[str, Any] = {n[4:]: _py(ds[n]) for n in job_vars if ds[n].ndim == 0}
        job["fleet_cost_by_pricing_usd"] = {
            str(m): float(v)
            for m, v in zip(
                ds["pricing_mode"].values, ds["job_fleet_cost_by_pricing_usd"].values, strict=True
            )
        }
        job["api"] = {
            str(a): {
                "list_usd": _num(ds["job_api_list_usd"].values[i]),
                "batch_usd": _num(ds["job_api_batch_usd"].values[i]),
                "batch_discount": _num(ds["job_api_batch_discount"].values[i]),
                "batch_source": str(ds["job_api_batch_source"].values[i]) or None,
            }
            for i, a in enumerate(ds["job_api"].values)
        }
        out["job"] = job
    out["notes"] = [str(n) for n in ds["notes"].values]
    out["reject_reasons"] = [str(r) for r in ds["reject_reason_names"].values]
    return out


def _strings(values: list[Any]) -> np.ndarray:
    """Text as a string array (also when empty, so it is never written as numbers)."""
    return np.array([str(v) for v in values], dtype=str)


def _flag(v: Any) -> bool | None:
    """1/0 as True/False; NaN (not applicable) as None."""
    f = float(v)
    return None if not np.isfinite(f) else bool(f)


def _nan(v: float | None) -> float:
    return np.nan if v is None else float(v)


def _num(v: Any) -> float | None:
    f = float(v)
    return None if not np.isfinite(f) else f


def _py(var: xr.DataArray) -> Any:
    v = var.values.item()
    if var.attrs.get("flag_meanings") == "no yes":
        return bool(v)
    if isinstance(v, float):
        return None if not np.isfinite(v) else v
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return v


def encode_provenance(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Provenance rows (what, id, detail, source, as_of) as string variables."""
    return {
        f"provenance_{f}": ("provenance", _strings([r.get(f, "") for r in rows]), {})
        for f in PROVENANCE_FIELDS
    }


def decode_provenance(ds: xr.Dataset) -> list[dict[str, str]]:
    """The provenance rows of a result Dataset (empty for files written before them)."""
    if "provenance_what" not in ds:
        return []
    n = ds.sizes["provenance"]
    return [{f: str(ds[f"provenance_{f}"].values[i]) for f in PROVENANCE_FIELDS} for i in range(n)]


def scenario_facts(scenario: Any) -> dict[str, Any]:
    """The scenario's name, question and fleet as Dataset attributes (numbers and text),
    so readers never parse the scenario text."""
    hw = scenario.hardware
    return {
        "scenario_name": scenario.name or "",
        "question": scenario.question or "",
        "model": scenario.model.name or "inline architecture",
        "weights": scenario.model.weights,
        "gpu": hw.gpu,
        "tp": int(hw.tp),
        "pp": int(hw.pp),
        "replicas": int(hw.replicas),
        "pools": len(hw.pools),
    }
