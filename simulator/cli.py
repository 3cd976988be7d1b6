"""The `simplan` command line. Each command is a thin wrapper over a function in simplan.api."""

from __future__ import annotations

import sys
import typing
from typing import Any

import click
from simplan import __version__, api, console, console_plan
from simplan.catalog_view import KINDS
from simplan.command_exit import user_errors
from simplan.progress import count, points, simulated_time
from simplan.scenario import Pricing


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="simplan")
def main() -> None:
    """simplan: plan GPU fleets for LLM inference and compare them with API prices."""


@main.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
@user_errors
def check(path: str) -> None:
    """Validate scenario FILE without running it."""
    scenario = api.check(path)
    model = scenario.model.name or "inline architecture"
    click.echo(
        f"{path}: ok ({model}, {scenario.model.weights} weights on "
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
@user_errors
def catalog_cmd(kind: str, as_json: bool) -> None:
    """Show a catalog: gpus, models, quantization, apis or datasets (every entry has a source
    and date)."""
    rows = api.catalog(kind)
    if as_json:
        click.echo(api.to_json(rows))
        return
    console.print_catalog(kind, rows)


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
@user_errors
def estimate(as_json: bool, **kwargs: Any) -> None:
    """Static-batch estimate: BATCH requests prefilled together, then decoded together."""
    result = api.estimate(**kwargs)
    if as_json:
        click.echo(api.to_json(result))
    else:
        console.print_estimate(result)
    if not result["fits"]:
        sys.exit(1)


@main.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
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
@user_errors
def run(
    path: str,
    output_dir: str | None,
    as_json: bool,
    write: bool,
    progress: bool | None,
    report: bool = False,
) -> None:
    """Simulate scenario FILE: summary table, results.nc and summary.json."""
    with simulated_time(progress) as tick:
        summary = api.run(path, output_dir=output_dir, write=write, report=report, progress=tick)
    if as_json:
        click.echo(api.to_json(summary))
        return
    out = console.make_console()
    console.print_run_summary(summary, out)
    if "output_dir" in summary:
        out.print(f"wrote {summary['output_dir']}/results.nc and summary.json")
        if "report_html" in summary:
            out.print(f"wrote {summary['report_html']}")


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
@user_errors
def validate(csv_path: str | None, output_dir: str, max_load: bool, as_json: bool) -> None:
    """Predict published benchmark measurements and report the error."""
    result = api.validate(csv_path, output_dir=output_dir, max_load=max_load)
    if as_json:
        click.echo(api.to_json({"summary": result["summary"], "table": result["table"]}))
        return
    console.print_validate(result)


@main.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
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
@click.option(
    "--verify",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Simulate this many of a fast sweep's cheapest points, with the seeds plan uses.",
)
@user_errors
def sweep(
    path: str,
    method: str,
    output: str | None,
    scheduler: str | None,
    workers: int | None,
    max_points: int | None,
    verify: int,
) -> None:
    """Evaluate the [sweep] grid of scenario FILE and print the cheapest feasible points."""
    with points("grid points") as tick:
        ds = api.sweep(
            path,
            method=method,
            output=output,
            scheduler=scheduler,
            workers=workers,
            progress=tick,
            max_points=max_points,
            verify=verify,
        )
    console_plan.print_sweep(ds)
    if output:
        click.echo(f"wrote {output}")


@main.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
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
@click.option(
    "--scheduler", help="Address of a running dask.distributed scheduler to simulate seeds on."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Simulate each check's seeds in parallel on a local Dask cluster of N processes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@user_errors
def plan(
    path: str,
    gpus: tuple[str, ...],
    weights: tuple[str, ...],
    tp: tuple[int, ...],
    pricing: tuple[str, ...],
    top: int,
    verify_candidates: int,
    scheduler: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """The cheapest fleet meeting FILE's SLO at its load, runners-up, APIs and a hybrid.

    Candidates come from the options, else from the scenario's [sweep] axes
    hardware.gpu / model.weights / hardware.tp / hardware.pricing, else the scenario.
    """
    result = api.plan(
        path,
        gpus=list(gpus),
        weights=list(weights),
        tp=list(tp),
        pricing=list(pricing),
        top=top,
        verify_candidates=verify_candidates,
        scheduler=scheduler,
        workers=workers,
    )
    if as_json:
        click.echo(api.to_json(result))
        return
    if "job" in result:
        console_plan.print_job_plan(result, path)
        return
    console_plan.print_plan(result, path)


@main.command("plot")
@click.argument("path", metavar="RESULTS", type=click.Path(exists=True, path_type=str))
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
@user_errors
def plot_cmd(path: str, kinds: tuple[str, ...], out_dir: str | None) -> None:
    """Plot a run (results.nc or its folder) or a sweep (.nc or .zarr)."""
    for written in api.plot(path, kinds=list(kinds) or None, out_dir=out_dir):
        click.echo(f"wrote {written}")


@main.command("report")
@click.argument("path", metavar="RESULTS", type=click.Path(exists=True, path_type=str))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=str),
    help="HTML file (default: report.html in a run's folder, <stem>_report.html beside a sweep).",
)
@user_errors
def report_cmd(path: str, output: str | None) -> None:
    """Write one self-contained HTML report for a run or a sweep."""
    click.echo(f"wrote {api.report(path, output=output)}")


@main.command("calibrate")
@click.argument("logs", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--scenario",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="The deployment the logs measured (model, hardware, engine).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=str),
    help="The profile (.toml; a .png plot goes beside it). Default: "
    "<scenario stem>.calibration.toml here.",
)
@click.option(
    "--factors",
    help="Comma-separated factors to consider (default: all): compute_efficiency_scale, "
    "memory_efficiency_scale, iteration_overhead_s, sequence_overhead_s.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=1),
    help="The most requests a rate-driven run is simulated with (default 1000).",
)
@click.option("--write/--no-write", default=True, help="Write the profile and the plot.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
def calibrate_cmd(
    logs: tuple[str, ...],
    scenario: str,
    output: str | None,
    factors: str | None,
    max_requests: int | None,
    write: bool,
    as_json: bool,
) -> None:
    """Fit the model to benchmark LOGS of the deployment in --scenario (vLLM, SGLang,
    GenAI-Perf) and write a calibration profile that scenarios apply."""
    from simplan.calibrate.table import print_calibration

    with count("fitting: {} runs simulated") as tick:
        result = api.calibrate(
            list(logs),
            scenario=scenario,
            output=output,
            factors=[f.strip() for f in factors.split(",") if f.strip()] if factors else None,
            max_requests=max_requests,
            write=write,
            progress=tick,
        )
    if as_json:
        click.echo(api.to_json(result))
    else:
        print_calibration(result)


if __name__ == "__main__":  # pragma: no cover
    main()
