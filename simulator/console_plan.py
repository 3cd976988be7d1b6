"""What `simplan plan` and `simplan sweep` print: fleets, APIs, hybrids, and a sweep's
cheapest points with their verification (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from simplan.calibration import BAND_COVERAGE
from simplan.console import _usd0, make_console
from simplan.formatting import seconds, usd
from simplan.rate_limits import rate_limit_cell
from simplan.validated import UNCALIBRATED


def print_job_plan(result: dict[str, Any], file: str) -> None:
    """The table of `simplan plan` for a finite job."""

    console = make_console()
    job = result["job"]
    t = Table(
        title=f"{result['scenario'] or file}: fleets finishing {job['requests']:,} requests "
        f"in {job['deadline_s']:,.0f} s, cheapest first"
    )
    for col in (
        "gpu",
        "weights",
        "tp",
        "pricing",
        "replicas",
        "GPUs",
        "job cost",
        "finishes in",
        "$/M tok",
        "simulated",
    ):
        t.add_column(col, justify="left" if col in ("gpu", "weights", "pricing") else "right")
    rows = ([result["recommended"]] if result["recommended"] else []) + result["runners_up"]
    for r in rows:
        t.add_row(
            r["gpu"],
            r["weights"],
            str(r["tp"]),
            r["pricing"],
            str(r["replicas"]),
            str(r["gpus"]),
            usd(r["job_cost_usd"]),
            f"{r['makespan_s']:,.0f} s",
            usd(r["usd_per_mtok_total"]),
            "finishes in time" if r["verified"] else "not checked",
        )
    console.print(t)
    if not rows:
        console.print("no candidate finishes the job by its deadline")
    a = Table(title="APIs for the same job")
    for col in ("api", "list", "batch API"):
        a.add_column(col, justify="left" if col == "api" else "right")
    for e in result["apis"]:
        a.add_row(
            e["id"], usd(e["list_usd"]), "–" if e["batch_usd"] is None else usd(e["batch_usd"])
        )
    console.print(a)
    for c in result["infeasible"][:8]:
        console.print(f"not possible: {c['gpu']} {c['weights']} tp={c['tp']}: {c['reason']}")
    for note in result["notes"]:
        console.print(f"note: {note}")


def print_plan(result: dict[str, Any], file: str) -> None:
    """The fleets, APIs and hybrids of `simplan plan` for an open-loop load."""

    console = make_console()
    rows = ([result["recommended"]] if result["recommended"] else []) + result["runners_up"]
    t = Table(
        title=f"{result['scenario'] or file}: fleets for {result['target_rate_per_s']:.2f} "
        f"req/s ({result['monthly_tokens'] / 1e6:,.0f} M tokens/month), cheapest first"
    )
    # engine options tried as candidates (plan's option axes) follow the pricing column
    options = list(dict.fromkeys(k for r in rows for k in r.get("options", {})))
    columns = [
        "gpu",
        "weights",
        "tp",
        "pricing",
        *(k.rsplit(".", 1)[-1] for k in options),
        "replicas",
        "GPUs",
        "monthly",
        "band",
        "$/M tok",
        "TTFT p95",
        "TPOT p95",
        "load",
        "simulated",
    ]
    for col in columns:
        t.add_column(
            col,
            justify="left" if col in ("gpu", "weights", "pricing") else "right",
            overflow="fold",
        )
    for r in rows:
        band = r["band"]["monthly_cost_usd"]
        t.add_row(
            r["gpu"],
            r["weights"],
            str(r["tp"]),
            r["pricing"],
            *(str(r.get("options", {}).get(k, "")) for k in options),
            str(r["replicas"]),
            str(r["gpus"]),
            usd(r["monthly_cost_usd"], 0),
            f"{_usd0(band[0])}–{_usd0(band[1])}",
            usd(r["usd_per_mtok_total"]),
            seconds(r["ttft_p95_s"]),
            seconds(r["tpot_p95_s"]),
            f"{r['utilization']:.0%}",
            "holds the SLO" if r["verified"] else "not checked",
        )
    console.print(t)
    if not rows:
        console.print("no candidate meets the SLO at this load")
    best = result["recommended"]
    for key, b in ((best or {}).get("band", {}).get("latency_s") or {}).items():
        lo, hi = b["seeds_s"]
        seen = (
            f"{seconds(lo)}–{seconds(hi)} over the simulated seeds"
            if b["simulated"]
            else f"{seconds(lo)} predicted"
        )
        console.print(
            f"band: {key.removesuffix('_s').replace('_', ' ')} of the pick {seen}; "
            f"{BAND_COVERAGE:.0%} band {seconds(b['band_s'][0])}–{seconds(b['band_s'][1])} "
            f"with the model's error (limit {seconds(b['limit_s'])})"
        )
    for reason in result["reasons"]:
        console.print(f"why: {reason}")
    if result["elastic_options"]:
        e = Table(title="following the daily cycle with the recommended configuration")
        for col in ("option", "monthly", "replica-hours per day"):
            e.add_column(col, justify="left" if col == "option" else "right")
        for o in result["elastic_options"]:
            e.add_row(o["option"], usd(o["monthly_cost_usd"], 0), f"{o['replica_hours_per_day']:,}")
        console.print(e)
    a = Table(title="APIs for the same volume, and a hybrid (fleet for the base, API for the rest)")
    for col in ("api", "API monthly", "self-host cheaper?", "crossover", "rate limit", "hybrid"):
        a.add_column(col)
    for e in result["apis"]:
        h = e.get("hybrid")
        hybrid = (
            (
                f"{h['replicas']} replicas {usd(h['fleet_monthly_usd'])} + API "
                f"{usd(h['api_monthly_usd'])} = {usd(h['total_monthly_usd'])}"
            )
            if h
            else "–"
        )
        cross = e.get("crossover_tokens_per_month")
        limit = e.get("rate_limit") or {}
        a.add_row(
            e["id"],
            usd(e["monthly_cost_usd"]),
            "yes" if e.get("self_hosting_cheaper") else "no",
            "–" if cross is None else f"{cross / 1e6:,.0f} M tok/mo",
            rate_limit_cell(limit.get("use"), limit.get("tier")),
            hybrid,
        )
    console.print(a)
    for c in result["infeasible"][:8]:
        console.print(
            f"not possible: {c['gpu']} {c['weights']} tp={c['tp']} {c['pricing']}"
            + "".join(f" {k.rsplit('.', 1)[-1]}={v}" for k, v in c.get("options", {}).items())
            + f": {c['reason']}"
        )
    if len(result["infeasible"]) > 8:
        console.print(f"... and {len(result['infeasible']) - 8} more infeasible candidates")
    for note in result["notes"]:
        console.print(f"note: {note}")


def print_sweep(ds: Any) -> None:
    # the sweep and plot modules load xarray, Dask and matplotlib: only when printing them
    from simplan.plots import fmt_coord
    from simplan.sweep import REASONS
    from simplan.sweep.summary import sweep_summary

    s = sweep_summary(ds)
    t = Table(
        title=f"{ds.attrs.get('title', 'sweep')}: {s['points']:,} points, {s['passing']:,} "
        + "feasible and "
        + ("not ruled out by" if s["unverified"] else "meeting")
        + f" the SLO ({ds.attrs.get('method')} method); cheapest first"
    )
    for col in (*s["dims"], "$/Mtok", "out tok/s", "TTFT", "TTFT p95", "TPOT", "TPOT p95", "load"):
        t.add_column(col, justify="right")
    for row in s["cheapest"]:
        t.add_row(
            *(fmt_coord(row[d]) for d in s["dims"]),
            usd(row["usd_per_mtok_total"]),
            f"{row['output_tokens_per_s']:,.0f}",
            seconds(row["ttft_s"]),
            seconds(row["ttft_p95_s"]),
            seconds(row["tpot_s"]),
            seconds(row["tpot_p95_s"]),
            f"{row['utilization']:.0%}",
        )
    make_console().print(t)
    for code, count in s["reasons"].items():
        if code != 0:
            make_console().print(
                f"not feasible: {count:,} point{'s' * (count != 1)}: {REASONS[int(code)]}"
            )
    _print_verification(ds)
    from simplan.dataset import decode_provenance

    for note in provenance_notes(decode_provenance(ds)):
        make_console().print(f"note: {note}")
    if s["unverified"]:
        make_console().print(
            "note: some points' predicted percentiles are within the fast model's measured "
            "error of their limits (not verified, docs/model.md); `simplan plan` checks its "
            "pick by simulation, and `--method simulate` measures every point"
        )


def provenance_notes(rows: list[dict[str, str]]) -> list[str]:
    """What a result's provenance says a reader must know, once each: the GPUs and models
    no published measurement checks, and a known lean of the model's throughput."""
    notes = [
        f"{r['id']}: {r['detail']}" if r["what"] == "checked" else r["detail"]
        for r in rows
        if r["what"] == "lean" or (r["what"] == "checked" and r["detail"].startswith(UNCALIBRATED))
    ]
    return list(dict.fromkeys(notes))


def _print_verification(ds: Any) -> None:
    """The cheapest points ``sweep --verify`` simulated, and whether each held."""
    from simplan.plots import fmt_coord
    from simplan.plots.read import verification_records

    records = verification_records(ds)
    if not records:
        return
    keys = sorted({k for r in records for k in r["achieved"]})
    t = Table(title="checked by simulation (worst of the seeds run; fast prediction)")
    for col in (*records[0]["point"], "held", "seeds", *keys):
        t.add_column(col, justify="right")
    for r in records:
        cells = []
        for k in keys:
            got = [v for v in r["achieved"].get(k, []) if v is not None]
            fast = r["fast"].get(k)
            pred = f" ({seconds(fast)})" if fast is not None else ""
            cells.append((seconds(max(got)) if got else "–") + pred)
        t.add_row(
            *(fmt_coord(v) for v in r["point"].values()),
            "yes" if r["holds"] else "no",
            str(len(r["seeds"])),
            *cells,
        )
    make_console().print(t)
