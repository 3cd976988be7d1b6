"""The `simplan` command line. Each command is a thin wrapper over a function in simplan.api."""

from __future__ import annotations

import functools
import sys
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import click
from simplan import __version__, api
from simplan.catalog_view import KINDS, table_columns
from simplan.errors import SimplanError
from simplan.scenario import Pricing

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2


EXIT_INTERRUPTED = 130


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _user_errors(func: F) -> F:
    """Turn a SimplanError into a clear message on stderr and exit status 2 (no traceback).

    SIGINT and SIGTERM stop the command cleanly: outputs are written atomically (a file is
    complete or absent) and a sweep keeps its finished slices, so nothing half-written is
    left; the exit status is 130.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import signal

        previous = signal.getsignal(signal.SIGTERM)
        try:
            # the start-up handler (simplan.__main__) answered Ctrl-C until now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread (e.g. inside a test runner's worker)
            previous = None
        try:
            return func(*args, **kwargs)
        except SimplanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo(
                "interrupted: no partial output was written (finished sweep slices are "
                "kept; rerun the same command to resume)",
                err=True,
            )
            sys.exit(EXIT_INTERRUPTED)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=max(100, _term_width()))


def _term_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 40)).columns


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "–".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="simplan")
def main() -> None:
    """simplan: plan GPU fleets for LLM inference and compare them with API prices."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@_user_errors
def check(file: str) -> None:
    """Validate scenario FILE without running it."""
    scenario = api.check(file)
    model = scenario.model.name or "inline architecture"
    click.echo(
        f"{file}: ok ({model}, {scenario.model.weights} weights on "
        f"{scenario.hardware.replicas}x {scenario.hardware.gpu} "
        f"tp={scenario.hardware.tp} pp={scenario.hardware.pp}; "
        f"{len(scenario.sweep)} sweep axes)"
    )


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor validation)."""
    click.echo(api.to_json(api.schema()))


@main.command("catalog")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with every field.")
@_user_errors
def catalog_cmd(kind: str, as_json: bool) -> None:
    """Show a catalog: gpus, models, quantization or apis (every entry has a source and date)."""
    rows = api.catalog(kind)
    if as_json:
        click.echo(api.to_json(rows))
        return
    from rich.table import Table

    cols = table_columns(kind)
    table = Table(title=f"simplan catalog {kind} ({len(rows)} entries; --json for sources)")
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    _console().print(table)


@main.command()
@click.option("--model", required=True, help="Model catalog id.")
@click.option("--gpu", required=True, help="GPU catalog id.")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--weights", default="fp16", show_default=True, help="Weight scheme id.")
@click.option("--kv-cache", default="fp16", show_default=True, help="KV-cache dtype id.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--input-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--output-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option(
    "--gpu-memory-utilization",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.90,
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_user_errors
def estimate(as_json: bool, **kwargs: Any) -> None:
    """Static-batch estimate: BATCH requests prefilled together, then decoded together."""
    result = api.estimate(**kwargs)
    if as_json:
        click.echo(api.to_json(result))
        if not result["fits"]:
            sys.exit(1)
        return
    from rich.table import Table

    r = result
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
    console = _console()
    console.print(table)
    for note in r["notes"]:
        console.print(f"note: {note}")
    if r["fits"]:
        console.print(f"verdict: {r['bound']}: {r['bound_reason']}")
    else:
        console.print(f"verdict: does not fit: {r['reason']}")
        sys.exit(1)


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1e3:,.0f} ms" if x < 10 else f"{x:,.1f} s"


def _usd(x: float | None) -> str:
    if x is None:
        return "–"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def print_run_summary(s: dict[str, Any], console: Any) -> None:
    """The human-readable summary of a run (what `simplan run` prints)."""
    from rich.table import Table

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
        t.add_row(label, *(_ms(s[key][col]) for col in ("mean", "p50", "p90", "p95", "p99")))
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
        ("SLO attainment (requests meeting every SLO)", f"{s['slo_attainment']:.1%}"),
        (
            "fleet",
            f"{s['replicas']} replicas, {s['num_gpus']} GPUs, {_usd(s['fleet_usd_per_hour'])}/hour",
        ),
        ("cost per M output tokens", _usd(s["usd_per_mtok_output"])),
        ("cost per M tokens (input + output)", _usd(s["usd_per_mtok_total"])),
    ]
    job = s.get("job")
    if job:
        deadline = (
            ""
            if job["deadline_s"] is None
            else f" (deadline {job['deadline_s']:,.0f} s: "
            + ("met)" if job["deadline_met"] else "MISSED)")
        )
        by_mode = ", ".join(f"{m} {_usd(v)}" for m, v in job["fleet_cost_by_pricing_usd"].items())
        rows += [
            (
                "job: requests / tokens in + out",
                f"{job['requests']:,} / {job['input_tokens'] / 1e6:,.2f} M + "
                f"{job['output_tokens'] / 1e6:,.2f} M",
            ),
            ("job: time to finish", f"{job['makespan_s']:,.0f} s{deadline}"),
            (
                "job: GPU-hours / fleet cost",
                f"{job['gpu_hours']:,.2f} / {_usd(job['fleet_cost_usd'])}",
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
            ("monthly cost (fleet + API overflow)", _usd(s["monthly_cost_usd"])),
        ]
    for name, value in rows:
        f.add_row(name, value)
    console.print(f)
    if s["slo"]:
        o = Table(title="latency objectives")
        for col in ("objective", "limit", "achieved", "met"):
            o.add_column(col)
        for name, v in s["slo"].items():
            o.add_row(name, _ms(v["limit"]), _ms(v["achieved"]), "yes" if v["met"] else "NO")
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
                _usd(v["usd_per_mtok_input"]),
                _usd(v["usd_per_mtok_output"]),
                _usd(v["monthly_cost_usd"]),
                _usd(v["self_hosted_savings_usd"]),
                be_txt,
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
                _usd(v["list_usd"]),
                "–" if v["batch_usd"] is None else _usd(v["batch_usd"]),
                _usd(cheapest - job["fleet_cost_usd"]),
            )
        console.print(j)
        console.print(f"note: GPU time billed in {job['billing']}")
    for note in s["notes"]:
        console.print(f"note: {note}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=str),
    help="Output folder (default: [simulation] output_dir or results/<file stem>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--write/--no-write", default=True, show_default=True, help="Write the output folder."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help=(
        "Progress bar of simulated time, with the time left "
        "(default: on when stderr is a terminal)."
    ),
)
@click.option(
    "--report",
    is_flag=True,
    help="Also write report.html (plots, assumptions) into the output folder.",
)
@_user_errors
def run(
    file: str,
    output_dir: str | None,
    as_json: bool,
    write: bool,
    progress: bool | None,
    report: bool = False,
) -> None:
    """Simulate scenario FILE: summary table, results.nc and summary.json."""
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("simulated"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} / {task.total:,.0f} s"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("sim", total=1.0)

            def tick(now: float, horizon: float) -> None:
                bar.update(task, completed=now, total=max(horizon, 1e-9))

            summary = api.run(
                file, output_dir=output_dir, write=write, report=report, progress=tick
            )
    else:
        summary = api.run(file, output_dir=output_dir, write=write, report=report)
    if as_json:
        click.echo(api.to_json(summary))
        return
    console = _console()
    print_run_summary(summary, console)
    if "output_dir" in summary:
        console.print(f"wrote {summary['output_dir']}/results.nc and summary.json")
        if "report_html" in summary:
            console.print(f"wrote {summary['report_html']}")


@main.command()
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=str),
    help="Calibration CSV (default: the published measurements shipped with simplan).",
)
@click.option(
    "--output-dir",
    "-o",
    default="results/validate",
    show_default=True,
    type=click.Path(file_okay=False, path_type=str),
)
@click.option(
    "--max-load/--no-max-load",
    default=True,
    show_default=True,
    help="Predict the rows that need the simulation (max-load runs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary and table as JSON.")
@_user_errors
def validate(csv_path: str | None, output_dir: str, max_load: bool, as_json: bool) -> None:
    """Predict published benchmark measurements and report the error."""
    result = api.validate(csv_path, output_dir=output_dir, max_load=max_load)
    if as_json:
        click.echo(api.to_json({"summary": result["summary"], "table": result["table"]}))
        return
    from rich.table import Table

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
    console = _console()
    console.print(t)
    s = result["summary"]
    console.print(
        f"overall: {s['predicted']} rows predicted, {s['skipped']} skipped; median "
        f"|error| {pct(s['median_abs_error'])}, p90 {pct(s['p90_abs_error'])}"
    )
    for g in result["table"]:
        for reason in g["skip_reasons"]:
            console.print(f"skipped ({g['source_id']} {g['metric']}): {reason}")
    console.print(f"wrote {result['output_dir']}/predictions.csv and predicted_vs_measured.png")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--method",
    type=click.Choice(["fast", "simulate"]),
    default="fast",
    show_default=True,
    help="Compiled steady-state model, or the simulation per point.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=str),
    help="Write the Dataset: .zarr (resumable) or .nc.",
)
@click.option("--scheduler", help="Address of a running dask.distributed scheduler.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Local Dask workers (simulate: default 2; fast: evaluate blocks on workers).",
)
@click.option(
    "--max-points",
    type=click.IntRange(min=1),
    help="Allow grids of up to this many points (default: simplan.feasibility.MAX_SWEEP_POINTS).",
)
@_user_errors
def sweep(
    file: str,
    method: str,
    output: str | None,
    scheduler: str | None,
    workers: int | None,
    max_points: int | None,
) -> None:
    """Evaluate the [sweep] grid of scenario FILE and print the cheapest feasible points."""
    from rich.progress import Progress

    with Progress(transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("grid points", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        ds = api.sweep(
            file,
            method=method,
            output=output,
            scheduler=scheduler,
            workers=workers,
            progress=tick,
            max_points=max_points,
        )
    _print_sweep(ds)
    if output:
        click.echo(f"wrote {output}")


def _print_job_plan(result: dict[str, Any], file: str) -> None:
    """The table of `simplan plan` for a finite job."""
    from rich.table import Table

    console = _console()
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
            _usd(r["job_cost_usd"]),
            f"{r['makespan_s']:,.0f} s",
            _usd(r["usd_per_mtok_total"]),
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
            e["id"], _usd(e["list_usd"]), "–" if e["batch_usd"] is None else _usd(e["batch_usd"])
        )
    console.print(a)
    for c in result["infeasible"][:8]:
        console.print(f"not possible: {c['gpu']} {c['weights']} tp={c['tp']}: {c['reason']}")
    for note in result["notes"]:
        console.print(f"note: {note}")


def _usd0(x: float | None) -> str:
    """Whole dollars; 'cannot meet' where a figure does not exist (None/NaN)."""
    return "cannot meet" if x is None or x != x else f"${x:,.0f}"


def _print_sweep(ds: Any) -> None:
    from rich.table import Table
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
    for col in (*s["dims"], "$/Mtok", "out tok/s", "TTFT", "TPOT", "load"):
        t.add_column(col, justify="right")
    for row in s["cheapest"]:
        t.add_row(
            *(fmt_coord(row[d]) for d in s["dims"]),
            _usd(row["usd_per_mtok_total"]),
            f"{row['output_tokens_per_s']:,.0f}",
            _ms(row["ttft_s"]),
            _ms(row["tpot_s"]),
            f"{row['utilization']:.0%}",
        )
    _console().print(t)
    for code, count in s["reasons"].items():
        if code != 0:
            _console().print(
                f"not feasible: {count:,} point{'s' * (count != 1)}: {REASONS[int(code)]}"
            )
    if s["unverified"]:
        _console().print(
            "note: the fast model predicts mean latencies, so percentile objectives are not "
            "verified here; `simplan plan` checks its pick by simulation, and "
            "`--method simulate` measures every point"
        )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--gpu", "gpus", multiple=True, help="Candidate GPU id (repeatable).")
@click.option("--weights", multiple=True, help="Candidate weight scheme (repeatable).")
@click.option("--tp", type=click.IntRange(min=1), multiple=True, help="Candidate TP degree.")
@click.option(
    "--pricing",
    multiple=True,
    type=click.Choice(typing.get_args(Pricing)),
    help="Candidate pricing mode (repeatable).",
)
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True)
@click.option(
    "--verify-candidates",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Configurations to check by simulation (0: the fast model's ranking, unverified).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@_user_errors
def plan(
    file: str,
    gpus: tuple[str, ...],
    weights: tuple[str, ...],
    tp: tuple[int, ...],
    pricing: tuple[str, ...],
    top: int,
    verify_candidates: int,
    as_json: bool,
) -> None:
    """The cheapest fleet meeting FILE's SLO at its load, runners-up, APIs and a hybrid.

    Candidates come from the options, else from the scenario's [sweep] axes
    hardware.gpu / model.weights / hardware.tp / hardware.pricing, else the scenario.
    """
    result = api.plan(
        file,
        gpus=list(gpus),
        weights=list(weights),
        tp=list(tp),
        pricing=list(pricing),
        top=top,
        verify_candidates=verify_candidates,
    )
    if as_json:
        click.echo(api.to_json(result))
        return
    if "job" in result:
        _print_job_plan(result, file)
        return
    from rich.table import Table

    console = _console()
    rows = ([result["recommended"]] if result["recommended"] else []) + result["runners_up"]
    t = Table(
        title=f"{result['scenario'] or file}: fleets for {result['target_rate_per_s']:.2f} "
        f"req/s ({result['monthly_tokens'] / 1e6:,.0f} M tokens/month), cheapest first"
    )
    for col in (
        "gpu",
        "weights",
        "tp",
        "pricing",
        "replicas",
        "GPUs",
        "monthly",
        "band",
        "$/M tok",
        "TTFT mean",
        "TPOT mean",
        "load",
        "simulated",
    ):
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
            str(r["replicas"]),
            str(r["gpus"]),
            f"${r['monthly_cost_usd']:,.0f}",
            f"{_usd0(band[0])}–{_usd0(band[1])}",
            _usd(r["usd_per_mtok_total"]),
            _ms(r["ttft_s"]),
            _ms(r["tpot_s"]),
            f"{r['utilization']:.0%}",
            "holds the SLO" if r["verified"] else "not checked",
        )
    console.print(t)
    if not rows:
        console.print("no candidate meets the SLO at this load")
    for reason in result["reasons"]:
        console.print(f"why: {reason}")
    if result["elastic_options"]:
        e = Table(title="following the daily cycle with the recommended configuration")
        for col in ("option", "monthly", "replica-hours per day"):
            e.add_column(col, justify="left" if col == "option" else "right")
        for o in result["elastic_options"]:
            e.add_row(
                o["option"], f"${o['monthly_cost_usd']:,.0f}", f"{o['replica_hours_per_day']:,}"
            )
        console.print(e)
    a = Table(title="APIs for the same volume, and a hybrid (fleet for the base, API for the rest)")
    for col in ("api", "API monthly", "self-host cheaper?", "crossover", "hybrid"):
        a.add_column(col)
    for e in result["apis"]:
        h = e.get("hybrid")
        hybrid = (
            (
                f"{h['replicas']} replicas {_usd(h['fleet_monthly_usd'])} + API "
                f"{_usd(h['api_monthly_usd'])} = {_usd(h['total_monthly_usd'])}"
            )
            if h
            else "–"
        )
        cross = e.get("crossover_tokens_per_month")
        a.add_row(
            e["id"],
            _usd(e["monthly_cost_usd"]),
            "yes" if e.get("self_hosting_cheaper") else "no",
            "–" if cross is None else f"{cross / 1e6:,.0f} M tok/mo",
            hybrid,
        )
    console.print(a)
    for c in result["infeasible"][:8]:
        console.print(
            f"not possible: {c['gpu']} {c['weights']} tp={c['tp']} {c['pricing']}: {c['reason']}"
        )
    if len(result["infeasible"]) > 8:
        console.print(f"... and {len(result['infeasible']) - 8} more infeasible candidates")
    for note in result["notes"]:
        console.print(f"note: {note}")


@main.command("plot")
@click.argument("results", type=click.Path(exists=True, path_type=str))
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Plot kind (repeatable): timeline, utilization_vs_cost, cost_vs_volume, "
    "latency_vs_load, sweep_map. Default: every kind that applies.",
)
@click.option(
    "--out-dir",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    help="Folder for the PNG and SVG files (default: beside RESULTS).",
)
@_user_errors
def plot_cmd(results: str, kinds: tuple[str, ...], out_dir: str | None) -> None:
    """Plot a run (results.nc or its folder) or a sweep (.nc or .zarr)."""
    for path in api.plot(results, kinds=list(kinds) or None, out_dir=out_dir):
        click.echo(f"wrote {path}")


@main.command("report")
@click.argument("results", type=click.Path(exists=True, path_type=str))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=str),
    help="HTML file (default: report.html in a run's folder, <stem>_report.html beside a sweep).",
)
@_user_errors
def report_cmd(results: str, output: str | None) -> None:
    """Write one self-contained HTML report for a run or a sweep."""
    click.echo(f"wrote {api.report(results, output=output)}")


if __name__ == "__main__":  # pragma: no cover
    main()
