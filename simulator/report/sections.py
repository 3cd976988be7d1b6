"""The report's sections: the summary tables of a run and of a sweep, the assumptions with
their sources, the notes and the figures.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import xarray as xr
from simplan import plots
from simplan.dataset import decode_provenance
from simplan.rate_limits import rate_limit_cell
from simplan.report.markup import _e, _linked, _pct, _Raw, _table, price, seconds, tokens, usd
from simplan.workload_figures import figure_rows, visible_token_row

_CAPTIONS = {
    "timeline": "Queue length, batch size, KV-cache occupancy and utilization of each "
    "replica over simulated time.",
    "utilization_vs_cost": "Self-hosted cost per million tokens against fleet utilization; "
    "dashed horizontal lines are the APIs' blended prices.",
    "cost_vs_volume": "Monthly cost against monthly volume: fleets add replicas in steps, "
    "APIs scale linearly; circles mark where a fleet first becomes cheaper.",
    "latency_vs_load": "Time to first token and time per output token against the offered "
    "request rate, with the SLO limits and each configuration's saturation rate.",
    "sweep_map": "Cost per million tokens at each configuration's SLO capacity, over two "
    "sweep axes (the cheapest over the others).",
}

# --- sections -----------------------------------------------------------------------------


def _run_summary_html(s: dict[str, Any]) -> str:
    lat_rows = []
    for key, label in (
        ("ttft_s", "time to first token"),
        ("tpot_s", "time per output token"),
        ("e2e_s", "end to end"),
        ("queue_delay_s", "queueing delay"),
    ):
        st = s.get(key) or {}
        lat_rows.append(
            [label, *(seconds(st.get(c)) for c in ("mean", "p50", "p90", "p95", "p99"))]
        )
    visible = visible_token_row(s, seconds)
    if visible is not None:
        lat_rows.append(visible)
    out = [_table(["latency", "mean", "p50", "p90", "p95", "p99"], lat_rows)]
    rows = [
        [
            "requests completed / rejected / in flight",
            f"{s.get('requests_completed', 0):,} / {s.get('requests_rejected', 0):,} / "
            f"{s.get('requests_in_flight', 0):,}",
        ],
        ["requests per second", f"{s.get('requests_per_s', 0.0):.2f}"],
        [
            "output / input tokens per second",
            f"{s.get('output_tokens_per_s', 0.0):,.0f} / {s.get('input_tokens_per_s', 0.0):,.0f}",
        ],
        [
            "GPU busy fraction / share of fleet capacity used",
            f"{_pct(s.get('gpu_utilization'))} / {_pct(s.get('capacity_utilization'))}",
        ],
        ["KV-cache utilization", _pct(s.get("kv_cache_utilization"))],
        ["MFU / MBU", f"{_pct(s.get('mfu'))} / {_pct(s.get('mbu'))}"],
        *([label, value] for label, value in figure_rows(s, seconds, _pct)),
        ["SLO attainment (requests meeting every SLO)", _pct(s.get("slo_attainment"))],
        [
            "fleet",
            f"{s.get('replicas')} replicas, {s.get('num_gpus')} GPUs, "
            f"{usd(s.get('fleet_usd_per_hour'))}/hour",
        ],
        ["cost per M output tokens", usd(s.get("usd_per_mtok_output"))],
        ["cost per M tokens (input + output)", usd(s.get("usd_per_mtok_total"))],
    ]
    job = s.get("job")
    if job:
        rows += [
            ["job: requests", f"{job['requests']:,}"],
            ["job: time to finish", f"{job['makespan_s']:,.0f} s"],
            [
                "job: deadline",
                "none"
                if job.get("deadline_s") is None
                else (
                    f"{job['deadline_s']:,.0f} s ({'met' if job.get('deadline_met') else 'missed'})"
                ),
            ],
            [
                "job: GPU-hours / fleet cost",
                f"{job['gpu_hours']:,.2f} / {usd(job['fleet_cost_usd'])}",
            ],
        ]
    else:
        rows += [
            [
                "monthly volume / fleet capacity",
                f"{tokens(s.get('monthly_tokens'))} / "
                f"{tokens((s.get('fleet_capacity_mtok_per_month') or 0) * 1e6)} tokens",
            ],
            ["monthly cost (fleet + API overflow)", usd(s.get("monthly_cost_usd"))],
        ]
    out.append(_table(["throughput, utilization and cost", "value"], rows))
    if job and job.get("api"):
        out.append(
            _table(
                ["API (same job)", "list prices", "batch API"],
                [
                    [a, usd(v.get("list_usd")), usd(v.get("batch_usd"))]
                    for a, v in job["api"].items()
                ],
            )
        )
    slo = s.get("slo") or {}
    if slo:
        out.append(
            f"<p>SLO judged over {_e(s.get('slo_judged_on', 'the measurement window'))}.</p>"
        )
        hours = s.get("slo_hourly") or []
        if hours:
            out.append(
                _table(
                    ["hour of day", "requests", "attainment", "every objective met"],
                    [
                        [
                            f"{h['hour']:02d}:00",
                            f"{h['requests']:,}",
                            _pct(h["attainment"]),
                            "yes" if h["met"] else "no",
                        ]
                        for h in hours
                    ],
                )
            )
        out.append(
            _table(
                ["objective", "limit", "achieved", "met"],
                [
                    [
                        k,
                        seconds(v.get("limit")),
                        seconds(v.get("achieved")),
                        "yes" if v.get("met") else "no",
                    ]
                    for k, v in slo.items()
                ],
            )
        )
    apis = dict(s.get("api") or {})
    if apis:
        out.append(
            _table(
                [
                    "API (same volume)",
                    "$/M in",
                    "$/M out",
                    "monthly",
                    "self-hosting saves",
                    "break-even volume",
                    "rate limit (busiest hour)",
                ],
                [
                    [
                        a,
                        usd(v.get("usd_per_mtok_input")),
                        usd(v.get("usd_per_mtok_output")),
                        usd(v.get("monthly_cost_usd")),
                        usd(v.get("self_hosted_savings_usd")),
                        (
                            f"{v['breakeven_mtok_per_month']:,.0f} M tok/mo"
                            + ("" if v.get("breakeven_within_capacity") else " (beyond capacity)")
                        )
                        if v.get("breakeven_mtok_per_month") is not None
                        else "–",
                        rate_limit_cell(v.get("rate_limit_use"), v.get("rate_limit_tier")),
                    ]
                    for a, v in apis.items()
                ],
            )
        )
    return "\n".join(out)


def _sweep_summary_html(ds: xr.Dataset, s: dict[str, Any]) -> str:
    dims = s["dims"]
    counts = _table(
        ["points", "feasible", "feasible and meeting the SLO", "method"],
        [
            [
                f"{s['points']:,}",
                f"{s['reasons'].get(0, 0):,}",
                f"{s['passing']:,}",
                str(ds.attrs.get("method", "?")),
            ]
        ],
    )
    rows = [
        [
            *(str(ds[d].values[i].item()) for d, i in zip(dims, r["index"], strict=True)),
            usd(r["usd_per_mtok_total"]),
            f"{r['output_tokens_per_s']:,.0f}",
            seconds(r["ttft_s"]),
            seconds(r["tpot_s"]),
            _pct(r["utilization"]),
        ]
        for r in s["cheapest"]
    ]
    top = (
        "<p>The cheapest points meeting the SLO:</p>"
        + _table(
            [*dims, "$/M tokens", "out tok/s", "TTFT", "TPOT", "load"],
            rows,
            set(range(len(dims), len(dims) + 5)),
        )
        if rows
        else ""
    )
    prices = plots.api_prices(ds)
    api = ""
    if prices:
        api = "<p>API prices, blended with the sweep's input share:</p>" + _table(
            ["API", "$/M in", "$/M out", "input share", "blended $/M tokens"],
            [
                [
                    a,
                    usd(p["usd_per_mtok_input"]),
                    usd(p["usd_per_mtok_output"]),
                    _pct(p["input_share"]),
                    price(p["usd_per_mtok_blended"]),
                ]
                for a, p in prices.items()
            ],
        )
    return counts + top + api


def _assumptions_html(ds: xr.Dataset) -> str:
    """Every catalog entry, price and calibration the result used, as it recorded them."""
    recorded = decode_provenance(ds)
    rows: list[list[Any]] = [
        [r["what"], r["id"], r["detail"], _Raw(_linked(r["source"])), r["as_of"]] for r in recorded
    ]
    if not rows:
        rows.append(
            [
                "provenance",
                "",
                "not recorded in this result file (an older simplan wrote it)",
                "",
                "",
            ]
        )
    table = _table(["what", "id", "value", "source", "as of"], rows, num=set())
    cols = "".join(f'<col style="width:{w}%">' for w in (11, 15, 24, 40, 10))
    return table.replace("<table>", f'<table class="wide"><colgroup>{cols}</colgroup>', 1)


def _swept(ds: xr.Dataset) -> set[str]:
    if "request" in ds.dims or "usd_per_mtok_total" not in ds:
        return set()
    return {str(ds[d].attrs.get("key_path", d)) for d in plots.sweep_dims(ds)}


def _notes_html(ds: xr.Dataset, summary: dict[str, Any]) -> str:
    """Infeasibility notes: a run's notes, or a sweep's counts by reason (``summary`` is
    the run's summary or the sweep's :func:`~simplan.sweep.summary.sweep_summary`)."""
    items: list[str] = []
    if plots.is_run(ds):
        items += [str(n) for n in summary.get("notes") or []]
        for k, v in (summary.get("slo") or {}).items():
            if not v.get("met"):
                got, lim = seconds(v.get("achieved")), seconds(v.get("limit"))
                items.append(f"SLO {k} missed: {got} against {lim}.")
        if summary.get("requests_rejected"):
            why = ", ".join(str(r) for r in summary.get("reject_reasons") or []) or "see results.nc"
            items.append(f"{summary['requests_rejected']:,} requests were rejected ({why}).")
    else:
        s = summary
        meanings = _reason_meanings(ds)
        for c, n in s["reasons"].items():
            if c != 0:
                items.append(f"{n:,} point{'s' * (n != 1)}: {meanings.get(c, f'reason {c}')}.")
        missed = s["reasons"].get(0, 0) - s["passing"]
        if missed:
            items.append(f"{missed:,} feasible point{'s' * (missed != 1)} miss the SLO.")
    if not items:
        return (
            "<p>None: every point is feasible and meets the SLO.</p>"
            if not plots.is_run(ds)
            else "<p>None.</p>"
        )
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _reason_meanings(ds: xr.Dataset) -> dict[int, str]:
    """The reason codes' meanings from the Dataset's CF flag attributes."""
    attrs = ds["reason"].attrs
    values = np.atleast_1d(np.asarray(attrs.get("flag_values", []))).tolist()
    meanings = str(attrs.get("flag_meanings", "")).split()
    if len(values) != len(meanings):  # a result file written before the CF attributes
        try:
            raw = json.loads(str(attrs.get("flag_meanings", "{}")))
            return {int(k): str(v) for k, v in raw.items()}
        except (ValueError, AttributeError):
            return {}
    return {int(v): m.replace("_", " ") for v, m in zip(values, meanings, strict=True)}


def _figures_html(ds: xr.Dataset) -> str:
    ds = plots.plottable(ds)
    out = []
    for kind in plots.applicable_kinds(ds):
        fig = plots.render(ds, kind)
        data = base64.b64encode(plots.png_bytes(fig)).decode("ascii")
        fig.clear()
        caption = _CAPTIONS.get(kind, kind)
        out.append(
            f'<figure id="{_e(kind)}"><img src="data:image/png;base64,{data}" '
            f'alt="{_e(kind.replace("_", " "))} plot">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "\n".join(out)
