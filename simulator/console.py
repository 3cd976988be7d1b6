"""What the `simplan` commands print: rich tables and notes, one printer per answer.

The commands in :mod:`simplan.cli` call the API and hand its result here; nothing in this
module computes a figure, it only formats what the API returned.
"""

from __future__ import annotations

import shutil
from typing import Any

from rich.console import Console
from rich.table import Table
from simplan.catalog_view import table_columns
from simplan.formatting import seconds, share, usd
from simplan.rate_limits import rate_limit_cell
from simplan.workload_figures import figure_rows, visible_token_row


def make_console() -> Any:
    """A rich console at least 100 columns wide (tables fold rather than truncate)."""
    # markup off: notes name TOML tables ("[simulation] warmup_s") that rich would eat
    return Console(highlight=False, markup=False, soft_wrap=False, width=max(100, _term_width()))


def _term_width() -> int:
    return shutil.get_terminal_size((120, 40)).columns


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "–".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


def _usd0(x: float | None) -> str:
    """Whole dollars; 'cannot meet' where a figure does not exist (None/NaN)."""
    return "cannot meet" if x is None or x != x else usd(x, 0)


def print_catalog(kind: str, rows: list[dict[str, Any]]) -> None:
    """A catalog as a table (`simplan catalog KIND`)."""
    cols = table_columns(kind)
    table = Table(title=f"simplan catalog {kind} ({len(rows)} entries; --json for sources)")
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    make_console().print(table)


def print_estimate(r: dict[str, Any]) -> None:
    """A static-batch estimate (`simplan estimate`) with its verdict."""
    title = (
        f"{r['model']} ({r['weights']} weights, {r['kv_cache']} KV) on "
        f"{r['num_gpus']}x {r['gpu']} (tp={r['tp']}, pp={r['pp']}); batch {r['batch']}, "
        f"{r['input_tokens']} in / {r['output_tokens']} out"
    )
    table = Table(title=title, show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("weights per GPU", f"{r['weights_gib_per_gpu']:.2f} GiB"),
        ("activation + fixed reserve per GPU", f"{r['reserve_gib_per_gpu']:.2f} GiB"),
        ("memory budget per GPU", f"{r['budget_gib_per_gpu']:.2f} GiB"),
        ("KV cache capacity", f"{r['kv_cache_capacity_tokens']:,} tokens"),
        ("largest batch at these lengths", f"{r['max_batch']:,}"),
    ]
    if r["fits"]:
        rows += [
            ("time to first token", f"{r['ttft_s'] * 1e3:.1f} ms"),
            ("time per output token", f"{r['tpot_s'] * 1e3:.2f} ms"),
            ("end to end", f"{r['e2e_s']:.2f} s"),
            ("output throughput", f"{r['output_tokens_per_s']:,.0f} tokens/s"),
            (
                "per-request decode speed",
                f"{r['decode_tokens_per_s_per_request'] or 0:,.1f} tokens/s",
            ),
        ]
    for name, value in rows:
        table.add_row(name, value)
    console = make_console()
    console.print(table)
    for note in r["notes"]:
        console.print(f"note: {note}")
    if r["fits"]:
        console.print(f"verdict: {r['bound']}: {r['bound_reason']}")
    else:
        console.print(f"verdict: does not fit: {r['reason']}")


def print_run_summary(s: dict[str, Any], console: Any) -> None:
    """The human-readable summary of a run (what `simplan run` prints)."""
    t = Table(title=s.get("scenario") or "simplan run", show_header=True)
    t.add_column("latency")
    for col in ("mean", "p50", "p90", "p95", "p99"):
        t.add_column(col, justify="right")
    for key, label in (
        ("ttft_s", "time to first token"),
        ("tpot_s", "time per output token"),
        ("e2e_s", "end to end"),
        ("queue_delay_s", "queueing delay"),
    ):
        t.add_row(label, *(seconds(s[key][col]) for col in ("mean", "p50", "p90", "p95", "p99")))
    visible = visible_token_row(s, seconds)  # a reasoning workload: the answer comes later
    if visible is not None:
        t.add_row(*visible)
    console.print(t)

    f = Table(show_header=False, title="throughput, utilization and cost")
    f.add_column("quantity")
    f.add_column("value", justify="right")
    rows = [
        (
            "requests completed / rejected / in flight",
            f"{s['requests_completed']:,} / {s['requests_rejected']:,} / "
            f"{s['requests_in_flight']:,}",
        ),
        (
            "requests per second (offered)",
            f"{s['requests_per_s']:.2f} ({s['offered_requests_per_s']:.2f})",
        ),
        (
            "output / input tokens per second",
            f"{s['output_tokens_per_s']:,.0f} / {s['input_tokens_per_s']:,.0f}",
        ),
        (
            "GPU busy fraction / share of fleet capacity used",
            f"{s['gpu_utilization']:.0%} / {s['capacity_utilization'] or 0:.0%}",
        ),
        ("KV cache utilization", f"{s['kv_cache_utilization']:.0%}"),
        ("MFU / MBU", f"{s['mfu']:.0%} / {s['mbu']:.0%}"),
        *figure_rows(s, seconds, share),
        ("SLO attainment (requests meeting every SLO)", f"{s['slo_attainment']:.1%}"),
        (
            "fleet",
            f"{s['replicas']} replicas, {s['num_gpus']} GPUs, {usd(s['fleet_usd_per_hour'])}/hour",
        ),
        ("cost per M output tokens", usd(s["usd_per_mtok_output"])),
        ("cost per M tokens (input + output)", usd(s["usd_per_mtok_total"])),
    ]
    job = s.get("job")
    if job:
        deadline = (
            ""
            if job["deadline_s"] is None
            else f" (deadline {job['deadline_s']:,.0f} s: "
            + ("met)" if job["deadline_met"] else "MISSED)")
        )
        by_mode = ", ".join(f"{m} {usd(v)}" for m, v in job["fleet_cost_by_pricing_usd"].items())
        rows += [
            (
                "job: requests / tokens in + out",
                f"{job['requests']:,} / {job['input_tokens'] / 1e6:,.2f} M + "
                f"{job['output_tokens'] / 1e6:,.2f} M",
            ),
            ("job: time to finish", f"{job['makespan_s']:,.0f} s{deadline}"),
            (
                "job: GPU-hours / fleet cost",
                f"{job['gpu_hours']:,.2f} / {usd(job['fleet_cost_usd'])}",
            ),
            ("job: fleet cost by pricing mode", by_mode),
        ]
    else:
        rows += [
            (
                "monthly volume / fleet capacity",
                f"{s['monthly_tokens'] / 1e6:,.0f} M / "
                f"{s['fleet_capacity_mtok_per_month']:,.0f} M tokens",
            ),
            ("monthly cost (fleet + API overflow)", usd(s["monthly_cost_usd"])),
        ]
    for name, value in rows:
        f.add_row(name, value)
    console.print(f)
    if s["slo"]:
        o = Table(title="latency objectives")
        for col in ("objective", "limit", "achieved", "met"):
            o.add_column(col)
        for name, v in s["slo"].items():
            o.add_row(
                name, seconds(v["limit"]), seconds(v["achieved"]), "yes" if v["met"] else "NO"
            )
        console.print(o)
        console.print(f"SLO judged over {s['slo_judged_on']}")
        missed = [h for h in s.get("slo_hourly") or [] if h["met"] is False]
        if missed:
            hours = ", ".join(f"{h['hour']:02d}:00 ({h['attainment']:.0%})" for h in missed)
            console.print(f"hours of the day that miss the SLO (attainment): {hours}")
    if s["api"]:
        a = Table(
            title=f"APIs at the same volume ({s['monthly_tokens'] / 1e6:,.0f} M tokens/month)"
        )
        for col in (
            "api",
            "$/M in",
            "$/M out",
            "monthly",
            "self-hosting saves",
            "break-even volume",
            "rate limit (busiest hour)",
        ):
            a.add_column(col, justify="right" if col != "api" else "left")
        for name, v in s["api"].items():
            be = v["breakeven_mtok_per_month"]
            be_txt = (
                "–"
                if be is None
                else f"{be:,.0f} M tok/mo"
                + ("" if v["breakeven_within_capacity"] else " (beyond capacity)")
            )
            a.add_row(
                name,
                usd(v["usd_per_mtok_input"]),
                usd(v["usd_per_mtok_output"]),
                usd(v["monthly_cost_usd"]),
                usd(v["self_hosted_savings_usd"]),
                be_txt,
                rate_limit_cell(v.get("rate_limit_use"), v.get("rate_limit_tier")),
            )
        console.print(a)
    if job and job["api"]:
        j = Table(title="APIs for the same job (list prices, and their batch APIs)")
        for col in ("api", "list", "batch API", "self-hosting saves (vs cheaper)"):
            j.add_column(col, justify="right" if col != "api" else "left")
        for name, v in job["api"].items():
            cheapest = min(x for x in (v["list_usd"], v["batch_usd"]) if x is not None)
            j.add_row(
                name,
                usd(v["list_usd"]),
                "–" if v["batch_usd"] is None else usd(v["batch_usd"]),
                usd(cheapest - job["fleet_cost_usd"]),
            )
        console.print(j)
        console.print(f"note: GPU time billed in {job['billing']}")
    for note in s["notes"]:
        console.print(f"note: {note}")


def print_validate(result: dict[str, Any]) -> None:
    """The error of the predictions by source and metric (`simplan validate`)."""
    t = Table(title="|predicted / measured - 1| by source and metric")
    for col in ("source", "metric", "rows", "median", "p90", "median signed", "skipped"):
        t.add_column(col, justify="left" if col in ("source", "metric") else "right")

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:+.1%}" if x < 0 else f"{x:.1%}"

    for g in result["table"]:
        t.add_row(
            g["source_id"],
            g["metric"],
            str(g["count"]),
            pct(g["median_abs_error"]),
            pct(g["p90_abs_error"]),
            pct(g["median_signed_error"]),
            str(g["skipped"]),
        )
    console = make_console()
    console.print(t)
    s = result["summary"]
    console.print(
        f"overall: {s['predicted']} rows predicted, {s['skipped']} skipped; median "
        f"|error| {pct(s['median_abs_error'])}, p90 {pct(s['p90_abs_error'])}"
    )
    for key in ("architecture", "gpu_family", "engine", "model_family"):
        groups = s.get("by", {}).get(key, {})
        if groups:
            console.print(
                f"by {key.replace('_', ' ')}: "
                + ", ".join(
                    f"{k} {pct(g['median_abs_error'])} of {g['count']}" for k, g in groups.items()
                )
            )
    band = s.get("band")
    if band and band["count"]:
        held = band["held_out_coverage"]
        per = ", ".join(
            f"{k} {v:.0%} of {band['count'][k]}"
            + (f" ({held[k]:.0%} leaving its source out)" if k in held else "")
            for k, v in band["coverage"].items()
            if k != "all"
        )
        console.print(
            f"{band['nominal']:.0%} bands (by metric family and regime, calibration.toml "
            "[error_bands]): "
            f"{band['coverage']['all']:.0%} of measurements inside, "
            f"{held.get('all', float('nan')):.0%} leaving each source out; {per}"
        )
    for g in result["table"]:
        for reason in g["skip_reasons"]:
            console.print(f"skipped ({g['source_id']} {g['metric']}): {reason}")
    console.print(f"wrote {result['output_dir']}/predictions.csv and predicted_vs_measured.png")
