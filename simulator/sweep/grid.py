"""The sweep grid: its axes, result variables, reason codes, Dataset template and blocks."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from simplan import __version__
from simplan import economics as econ
from simplan import slo as slo_eval
from simplan.dataset import encode_provenance, scenario_facts
from simplan.provenance import provenance_rows
from simplan.rate_limits import limit_use_share
from simplan.scenario import INTEGER_KEYS, RangeAxis, Scenario, scenario_hash, trial_scenario

#: Axes that do not change a replica's configuration: evaluated numerically per point.
CHEAP_AXES = {
    "workload.rate_per_s",
    "hardware.replicas",
    "hardware.pricing",
    "hardware.price_usd_per_gpu_hour",
}

#: Reason codes for infeasible points (the ``reason`` variable; 0 = feasible).
REASONS = {
    0: "feasible",
    1: "model does not fit in GPU memory",
    2: "invalid parallelism for this model or GPU",
    3: "offered load exceeds what the fleet sustains",
    4: "simulation error",
    5: "every request is longer than the model's context",
}

VARIABLES: dict[str, tuple[str, str]] = {
    # name: (units, long_name)
    "output_tokens_per_s": ("tokens/s", "fleet output token throughput"),
    "input_tokens_per_s": ("tokens/s", "fleet input token throughput"),
    "ttft_s": ("s", "mean time to first token"),
    "tpot_s": ("s", "mean time per output token"),
    "e2e_s": ("s", "mean end-to-end latency"),
    "utilization": ("1", "offered load as a share of fleet capacity"),
    "max_rate_per_s": ("requests/s", "largest request rate the fleet sustains"),
    "max_rate_under_slo_per_s": ("requests/s", "largest request rate meeting the SLO"),
    "fleet_usd_per_hour": ("USD/hour", "fleet price"),
    "usd_per_mtok_output": ("USD/Mtok", "fleet cost per million output tokens"),
    "usd_per_mtok_total": ("USD/Mtok", "fleet cost per million input+output tokens"),
    "monthly_cost_usd": ("USD/month", "fleet cost per month (simplan.economics.HOURS_PER_MONTH)"),
    "monthly_tokens": ("tokens/month", "monthly volume priced"),
    "tokens_per_request": ("tokens", "mean input + output tokens per request"),
    "input_share": ("1", "share of input tokens in the volume"),
    "cached_input_share": ("1", "share of input an API would bill at its cached price"),
    "replica_usd_per_hour": ("USD/hour", "price of one replica (tp x pp GPUs)"),
    "ttft_p95_s": ("s", "95th percentile time to first token (simulate only)"),
    "tpot_p95_s": ("s", "95th percentile time per output token (simulate only)"),
    "busiest_rate_per_s": ("requests/s", "offered request rate at the busiest hour"),
}

#: The per-point variables besides VARIABLES (flags and codes).
FLAGS = ("feasible", "slo_met", "slo_status", "reason")


def bytes_per_point(scenario: Scenario) -> int:
    """Result bytes one grid point takes: the float64 variables, the one-byte flags, and
    two float64 per API compared (its cost and its rate-limit share)."""
    return 8 * len(VARIABLES) + len(FLAGS) + 2 * 8 * len(econ.selected_apis(scenario))


def api_costs_usd(
    apis: list[econ.ApiQuote], monthly_tokens: Any, share: Any, cached_share: Any
) -> np.ndarray:
    """``api_monthly_cost_usd``: each API's cost of the points' monthly volume (last axis),
    at each point's own cached-input share."""
    return np.stack(
        [econ.api_monthly_cost_usd(a, monthly_tokens, share, cached_share) for a in apis],
        axis=-1,
    )


def api_limit_use(
    apis: list[econ.ApiQuote],
    busiest_rate_per_s: Any,
    tokens_per_request: Any,
    input_share: Any,
    cached_share: Any,
) -> np.ndarray:
    """``api_rate_limit_use``: the share of each API's published rate limit (its most
    binding one) the points' busiest hour would use (last axis; NaN without a limit)."""
    tokens_per_s = busiest_rate_per_s * tokens_per_request
    return np.stack(
        [
            limit_use_share(
                a,
                busiest_rate_per_s,
                tokens_per_s * input_share,
                tokens_per_s * (1.0 - input_share),
                cached_share,
            )
            for a in apis
        ],
        axis=-1,
    )


@dataclass(frozen=True)
class Axis:
    key: str
    name: str
    values: list[Any]


def sweep_axes(scenario: Scenario) -> list[Axis]:
    """The sweep axes in file order, with short dimension names."""
    leaves = [k.split(".")[-1] for k in scenario.sweep]
    axes = []
    for key, spec in scenario.sweep.items():
        leaf = key.split(".")[-1]
        # a leaf that is also a result variable (slo.ttft_p95_s) keeps its section
        unique = leaves.count(leaf) == 1 and leaf not in VARIABLES
        name = leaf if unique else key.replace(".", "_")
        values = spec.values() if isinstance(spec, RangeAxis) else list(spec)
        if isinstance(spec, RangeAxis) and leaf in INTEGER_KEYS:
            values = [round(v) for v in values]
        axes.append(Axis(key, name, values))
    return axes


def point_scenario(
    raw: dict[str, Any], axes: list[Axis], idx: tuple[int, ...], source: str
) -> Scenario:
    """The scenario at one grid index."""
    values = {axis.key: axis.values[i] for axis, i in zip(axes, idx, strict=True)}
    return trial_scenario(raw, values, source)


def _flag_word(meaning: str) -> str:
    """A CF flag meaning: one word, no blanks."""
    return meaning.replace(" ", "_")


def coord_values(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=float if any(isinstance(v, float) for v in values) else int)
    return np.array([str(v) for v in values])


def empty_dataset(
    axes: list[Axis],
    scenario: Scenario,
    text: str,
    method: str,
    chunks: dict[str, int] | None = None,
) -> xr.Dataset:
    """The sweep's Dataset with every point unset (NaN, infeasible).

    With ``chunks`` the grid variables are lazy (Dask) arrays in those chunks, so a grid
    larger than memory can be laid out in a store before any block is computed.
    """
    shape = tuple(len(a.values) for a in axes)
    dims = tuple(a.name for a in axes)

    def full(fill: Any, dtype: Any, extra: tuple[int, ...] = ()) -> Any:
        if chunks is None:
            return np.full((*shape, *extra), fill, dtype=dtype)
        import dask.array as da  # deferred (0.3 s): only chunked outputs use it

        return da.full(
            (*shape, *extra), fill, dtype=dtype, chunks=(*(chunks[d] for d in dims), *extra)
        )

    data: dict[str, Any] = {}
    for name, (units, long) in VARIABLES.items():
        data[name] = (dims, full(np.nan, float), {"units": units, "long_name": long})
    data["feasible"] = (dims, full(False, bool), {"long_name": "point is feasible"})
    data["slo_met"] = (
        dims,
        full(False, bool),
        {"long_name": "estimated latencies meet the scenario's SLO"},
    )
    data["slo_status"] = (
        dims,
        full(slo_eval.MISSED, np.int8),
        {
            "long_name": "SLO verdict (fast sweeps cannot verify percentile objectives)",
            "flag_values": np.array(list(slo_eval.STATUS), dtype=np.int8),
            "flag_meanings": " ".join(slo_eval.STATUS.values()),
        },
    )
    data["reason"] = (
        dims,
        full(0, np.int8),
        {
            "long_name": "why a point is infeasible",
            "flag_values": np.array(list(REASONS), dtype=np.int8),
            "flag_meanings": " ".join(_flag_word(v) for v in REASONS.values()),
        },
    )
    apis = econ.selected_apis(scenario)
    if apis:
        data["api_monthly_cost_usd"] = (
            (*dims, "api"),
            full(np.nan, float, (len(apis),)),
            {"units": "USD/month", "long_name": "API cost of the same monthly volume"},
        )
        # the prices applied, so plots and reports never look them up again
        for field, long in (
            ("usd_per_mtok_input", "API list price of input tokens"),
            ("usd_per_mtok_output", "API list price of output tokens"),
        ):
            data[f"api_{field}"] = (
                "api",
                np.array([getattr(a, field) for a in apis], dtype=float),
                {"units": "USD/Mtok", "long_name": long},
            )
        data["api_usd_per_mtok_cached_input"] = (
            "api",
            np.array(
                [
                    np.nan if a.usd_per_mtok_cached_input is None else a.usd_per_mtok_cached_input
                    for a in apis
                ],
                dtype=float,
            ),
            {"units": "USD/Mtok", "long_name": "API price of cached input tokens (NaN: none)"},
        )
        data["api_rate_limit_use"] = (
            (*dims, "api"),
            full(np.nan, float, (len(apis),)),
            {
                "units": "1",
                "long_name": "share of the API's published rate limit the busiest hour "
                "uses (above 1: the API refuses part of it; NaN: no published limit)",
            },
        )
        data["api_source"] = ("api", np.array([a.source for a in apis], dtype=str), {})
    objs = slo_eval.objectives(scenario.slo)
    data["slo_limit_s"] = (
        "objective",
        np.array([o.limit_s for o in objs], dtype=float),
        {"units": "s", "long_name": "the scenario's SLO limits"},
    )
    swept = {a.key: a.values for a in axes}
    data.update(encode_provenance(provenance_rows(scenario, swept)))
    coords: dict[str, Any] = {
        a.name: (a.name, coord_values(a.values), {"key_path": a.key}) for a in axes
    }
    coords["objective"] = ("objective", np.array([o.key for o in objs], dtype=str))
    if apis:
        coords["api"] = ("api", [a.id for a in apis])
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        title=f"simplan sweep: {scenario.name or 'scenario'}",
        simplan_version=__version__,
        scenario_hash=scenario_hash(scenario),
        scenario_toml=text,
        seed=scenario.simulation.seed,
        method=method,
        hours_per_month=econ.HOURS_PER_MONTH,
        **scenario_facts(scenario),
    )
    return ds


#: Elements per block of a sweep: the unit of evaluation, storage chunks and resume
#: (8 MB per float64 variable).
BLOCK_ELEMENTS = 1 << 20


def block_chunks(sizes: dict[str, int], block: int = BLOCK_ELEMENTS) -> dict[str, int]:
    """Chunks of about ``block`` elements: trailing axes whole, leading axes split.

    Size-1 chunks along every leading axis made hundreds of thousands of chunk files for a
    large grid (a 600-point sweep took 50 s to write); a sweep is written in blocks. The
    chunks have the form (1, ..., 1, k, whole, ..., whole), so each block is one
    contiguous range of the grid's flat (C-order) index.
    """
    chunks = dict(sizes)
    for dim in sizes:  # leading axes first
        inner = math.prod(v for d, v in chunks.items() if d != dim)
        if inner * chunks[dim] <= block:
            break
        chunks[dim] = max(1, block // max(inner, 1))
    return chunks


@dataclass(frozen=True)
class Block:
    """One block of the grid: its region and its range of flat point indices."""

    region: tuple[slice, ...]
    start: int
    stop: int


def grid_blocks(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[Block]:
    """The blocks of a grid chunked as :func:`block_chunks` makes (in flat order)."""
    spans = [
        [slice(i, min(i + c, s)) for i in range(0, s, c)]
        for s, c in zip(shape, chunks, strict=True)
    ]
    blocks = []
    for region in itertools.product(*spans):
        start = int(np.ravel_multi_index(tuple(r.start for r in region), shape)) if shape else 0
        size = math.prod(r.stop - r.start for r in region)
        blocks.append(Block(tuple(region), start, start + size))
    return blocks
