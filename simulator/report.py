"""One self-contained HTML report of a run or a sweep.

The report states the scenario's question, answers it in one sentence, shows the
summary table and the plots (embedded as base64 PNG data URIs: no external files, CSS
or scripts), lists the assumptions (every catalog entry used, with its source and date;
the efficiency fit; the calibration error) and what could not work.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan import __version__, plots
from simplan.dataset import decode_provenance

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 62rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
.meta { color: #555; font-size: 0.85rem; }
.question, .answer { font-size: 1.05rem; padding: 0.6rem 0.9rem; border-left: 4px solid #0072B2;
                     background: #f3f7fb; }
.answer { border-left-color: #009E73; background: #f1f8f5; font-weight: 600; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.src { font-size: 0.8rem; overflow-wrap: anywhere; }
table.wide { width: 100%; table-layout: fixed; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.85rem; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
"""

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


# --- formatting ---------------------------------------------------------------------------


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


_URL = re.compile(r"https?://[^\s<>\"']+")


def _linked(text: str) -> str:
    """Escape ``text`` and turn URLs into links."""
    out, pos = [], 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(").,;:")
        out.append(_e(text[pos : m.start()]))
        out.append(f'<a href="{_e(url)}">{_e(url)}</a>')
        pos = m.start() + len(url)
    out.append(_e(text[pos:]))
    return "".join(out)


def usd(x: float | None, digits: int = 2) -> str:
    """Dollars as shown in the report: ``$0.94``, ``$14,600.00``, ``–`` for none."""
    if x is None or not np.isfinite(x):
        return "–"
    return f"-${-x:,.{digits}f}" if x < 0 else f"${x:,.{digits}f}"


def price(x: float | None) -> str:
    """A per-token price with enough digits to compare: ``$0.439``, ``$4.23``, ``$0.0001``."""
    if x is None or not np.isfinite(x):
        return "–"
    return f"${x:,.2f}" if x >= 10 else f"${x:.3g}"


def seconds(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x * 1e3:,.0f} ms" if x < 10 else f"{x:,.1f} s"


def tokens(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x / 1e6:,.0f} M" if x < 1e9 else f"{x / 1e9:,.1f} B"


def _pct(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.0%}"


def _table(headers: list[str], rows: list[list[Any]], num: set[int] | None = None) -> str:
    num = num if num is not None else set(range(1, len(headers)))
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if isinstance(v, _Raw):
                cells.append(f'<td class="src">{v.html}</td>')
            else:
                cls = ' class="num"' if i in num else ""
                cells.append(f"<td{cls}>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    """Already-escaped HTML for a table cell."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


# --- scenario facts -----------------------------------------------------------------------


def _display(ds: xr.Dataset, what: str, id_: Any) -> str | None:
    """The display name the result recorded for a catalog entry (its provenance row)."""
    for row in decode_provenance(ds):
        if row["what"] == what and row["id"] == str(id_):
            return row["detail"] or None
    return None


def _model_phrase(ds: xr.Dataset) -> str:
    model = plots.fact(ds, "model", "the model")
    name = _display(ds, "model", model) or str(model)
    weights = _display(ds, "weights", plots.fact(ds, "weights", "fp16"))
    return f"{name} in {weights}" if weights else name


def _gpu_phrase(ds: xr.Dataset) -> str:
    gpu = plots.fact(ds, "gpu", "GPU")
    name = _display(ds, "GPU", gpu) or str(gpu)
    n = int(plots.fact(ds, "tp", 1)) * int(plots.fact(ds, "pp", 1))
    return f"{n}× {name}" if n > 1 else name


def _list_words(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- the answer ---------------------------------------------------------------------------


def run_answer(ds: xr.Dataset) -> str:
    """One sentence answering a run's question from its summary."""
    summary = plots.run_summary(ds)
    n = summary.get("replicas", 1)
    pools = plots.fact(ds, "pools", 0)
    fleet = (
        f"a mixed fleet of {n} replicas ({summary.get('num_gpus')} GPUs)"
        if pools
        else f"{n} replica{'s' * (n != 1)} of {_gpu_phrase(ds)}"
    )
    verb = "serves" if n == 1 and not pools else "serve"
    rate = f"{summary.get('requests_per_s', 0.0):.2f} req/s"
    slo_met = summary.get("slo_met")
    if slo_met is None:
        how = f"{verb} {rate}"
    elif slo_met:
        how = f"{'meets' if verb == 'serves' else 'meet'} the SLO at {rate}"
    else:
        missed = [
            f"{k} {seconds(v.get('achieved'))} against {seconds(v.get('limit'))}"
            for k, v in (summary.get("slo") or {}).items()
            if not v.get("met")
        ]
        miss = "misses" if verb == "serves" else "miss"
        how = f"{miss} the SLO at {rate} ({'; '.join(missed)})"
    cost = summary.get("usd_per_mtok_total")
    sentence = f"{fleet} serving {_model_phrase(ds)} {how}"
    sentence += f" for {usd(cost)} per M tokens" if cost is not None else ""
    job = summary.get("job")
    if job:
        sentence += (
            f"; the job takes {job['makespan_s']:,.0f} s and costs {usd(job['fleet_cost_usd'])}"
        )
        cheapest = {
            a: min(x for x in (v.get("list_usd"), v.get("batch_usd")) if x is not None)
            for a, v in (job.get("api") or {}).items()
        }
        below = [a for a, c in cheapest.items() if c > job["fleet_cost_usd"]]
        if below:
            sentence += f", less than {_list_words(below)} would charge for it"
        return sentence[0].upper() + sentence[1:] + "."
    apis = dict(summary.get("api") or {})  # in the scenario's order, as it was priced
    cheaper = [a for a, v in apis.items() if v.get("self_hosted_savings_usd", 0) > 0]
    dearer = [a for a, v in apis.items() if v.get("self_hosted_savings_usd", 0) <= 0]
    parts = []
    if cheaper:
        parts.append(f"cheaper than {_list_words(cheaper)}")
    if dearer:
        parts.append(f"dearer than {_list_words(dearer)}")
    if parts:
        vol = summary.get("monthly_tokens")
        sentence += (
            f"; self-hosting is {' and '.join(parts)} at this volume ({tokens(vol)} tokens/month)"
        )
    if summary.get("volume_within_capacity") is False or summary.get("requests_in_flight"):
        sentence += ", though the fleet cannot keep up with the offered load"
    return sentence[0].upper() + sentence[1:] + "."


def _point_label(ds: xr.Dataset, idx: tuple[int, ...]) -> str:
    dims = plots.sweep_dims(ds)
    parts = []
    for d, i in zip(dims, idx, strict=True):
        v = ds[d].values[i].item()
        unit = " req/s" if ds[d].attrs.get("key_path") == plots.RATE_KEY else ""
        parts.append(f"{d} {plots.fmt_coord(v)}{unit}")
    return ", ".join(parts)


def cheapest_point(ds: xr.Dataset, s: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The cheapest feasible sweep point meeting the SLO (None when there is none), by the
    ranking of :func:`simplan.sweep.summary.sweep_summary` (``s``, when already read with
    ``count_ties``)."""
    if s is None:
        s = _summary(ds, top=1)
    if not s["cheapest"]:
        return None
    row = s["cheapest"][0]
    return {
        "index": row["index"],
        "label": _point_label(ds, row["index"]),
        "usd_per_mtok_total": row["usd_per_mtok_total"],
        "ttft_s": row["ttft_s"],
        "tpot_s": row["tpot_s"],
        "utilization": row["utilization"],
        "ties": s["ties"],
    }


def _summary(ds: xr.Dataset, top: int) -> dict[str, Any]:
    from simplan.sweep.summary import sweep_summary

    return sweep_summary(ds, top=top, count_ties=True)


def sweep_answer(ds: xr.Dataset, summary: dict[str, Any] | None = None) -> str:
    """One sentence answering a sweep's question: its cheapest point meeting the SLO
    (``summary``: the sweep's :func:`~simplan.sweep.summary.sweep_summary`, when read)."""
    if summary is None:
        summary = _summary(ds, top=1)
    best = cheapest_point(ds, summary)
    if best is None:
        if not summary["reasons"].get(0):
            return "No point of this sweep is feasible (see the infeasibility notes)."
        return "No feasible point of this sweep meets the SLO (see the infeasibility notes)."
    what = (
        "not ruled out by the SLO (the fast model predicts means, so its percentile "
        "objectives are unverified: check it with `simplan plan` or `--method simulate`)"
        if plots.slo_unverified(ds)
        else "meeting the SLO"
    )
    s = (
        f"The cheapest configuration {what} is {best['label']}: "
        f"{price(best['usd_per_mtok_total'])} per M tokens (TTFT {seconds(best['ttft_s'])}, "
        f"TPOT {seconds(best['tpot_s'])}, {_pct(best['utilization'])} of capacity)"
    )
    if best["ties"]:
        s += f", with {best['ties']} other point{'s' * (best['ties'] != 1)} within 0.5%"
    prices = plots.api_prices(ds)
    cheaper = [
        f"{a} ({price(p['usd_per_mtok_blended'])})"
        for a, p in prices.items()
        if best["usd_per_mtok_total"] < p["usd_per_mtok_blended"]
    ]
    dearer = [
        f"{a} ({price(p['usd_per_mtok_blended'])})"
        for a, p in prices.items()
        if best["usd_per_mtok_total"] >= p["usd_per_mtok_blended"]
    ]
    parts = []
    if cheaper:
        parts.append(f"cheaper per token than {_list_words(cheaper)}")
    if dearer:
        parts.append(f"dearer than {_list_words(dearer)}")
    if parts:
        s += "; " + " and ".join(parts)
    return s + "."


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


# --- the report ---------------------------------------------------------------------------


def build_report(ds: xr.Dataset) -> str:
    """The report's HTML text for a loaded run or sweep Dataset."""

    run = plots.is_run(ds)
    # a sweep's grid is read once, in blocks, for every figure the report quotes
    summary = plots.run_summary(ds) if run else _summary(ds, top=10)
    name = plots.fact(ds, "scenario_name") or summary.get("scenario") or ds.attrs.get("title")
    question = plots.fact(ds, "question") or "(the scenario states no question)"
    answer = run_answer(ds) if run else sweep_answer(ds, summary)
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
    from simplan.tempfiles import atomic_write

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
