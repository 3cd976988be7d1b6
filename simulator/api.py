"""The Python API. Each function here is one CLI command with the same arguments.

Each function imports the machinery of its command when it is called (the simulation,
sweeps, plans, plots, reports), so that ``simplan check`` or ``--help`` does not load
numba, Dask, Zarr or matplotlib; the command line (``cli.py``, ``console_plan.py``) does
the same. Everywhere else imports are at the top of the module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simplan.catalog_view import catalog_rows
from simplan.errors import SimplanError
from simplan.scenario import Scenario, load_scenario, scenario_json_schema


@contextmanager
def _named(path: str | Path) -> Iterator[None]:
    """Name the scenario file on errors raised after it was read (infeasible configs)."""
    try:
        yield
    except SimplanError as exc:
        if exc.source is None:
            exc.source = str(path)
        raise


def check(path: str | Path) -> Scenario:
    """Validate a scenario file without running it.

    Applies the checks every command applies before work starts: the schema, the files
    the workload names, requests against the model's context
    (:func:`simplan.feasibility.check_workload`), the size of a sweep's grid
    (:func:`simplan.feasibility.check_sweep_size`), an offline job's request budget, and
    that the parallelism as written is valid for the model (as ``run`` requires; a sweep
    over hardware, model or engine keys leaves that to each point). Whether the fleet
    holds the model is a question about hardware that ``run`` (exit 2, with the nearest
    fit), ``sweep`` (per point) and ``plan`` (per candidate) answer.

    Returns the validated :class:`~simplan.scenario.Scenario`; raises
    :class:`~simplan.errors.SimplanError` naming every problem.
    """
    from simplan.feasibility import check_request_budget, check_sweep_size, check_workload

    scenario = load_scenario(path)
    with _named(path):
        check_workload(scenario)
        if scenario.workload.arrival == "offline":  # an open loop's count depends on the fleet
            check_request_budget(scenario)
        if not any(k.startswith(("hardware.", "model.", "engine.")) for k in scenario.sweep):
            # the parallelism as written must exist, as `run` requires (a sweep over the
            # hardware judges each point instead); whether the fleet holds the model is the
            # question `run` answers, with the nearest fit
            from simplan.pools import build_pools

            build_pools(scenario, require_fit=False)
        if scenario.sweep:
            from simplan.sweep.grid import bytes_per_point, sweep_axes

            check_sweep_size(
                {a.key: len(a.values) for a in sweep_axes(scenario)},
                bytes_per_point=bytes_per_point(scenario),
                in_memory=False,  # the output is not known yet; `sweep` checks that
            )
    return scenario


def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files."""
    return scenario_json_schema()


def catalog(kind: str) -> list[dict[str, Any]]:
    """Entries of one catalog (``gpus``, ``models``, ``quantization``, ``apis``,
    ``datasets``) as dicts."""
    return catalog_rows(kind)


def to_json(obj: Any) -> str:
    """Stable JSON text (sorted keys) used by every ``--json`` output."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str, allow_nan=False)


def estimate(
    *,
    model: str,
    gpu: str,
    tp: int = 1,
    pp: int = 1,
    weights: str = "fp16",
    kv_cache: str = "fp16",
    batch: int = 1,
    input_tokens: int = 512,
    output_tokens: int = 128,
    gpu_memory_utilization: float = 0.90,
) -> dict[str, Any]:
    """Static-batch estimate (see :func:`simplan.estimate.estimate_static`)."""
    from simplan.estimate import estimate_static

    return estimate_static(
        model=model,
        gpu=gpu,
        tp=tp,
        pp=pp,
        weights=weights,
        kv_cache=kv_cache,
        batch=batch,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        gpu_memory_utilization=gpu_memory_utilization,
    )


def run(
    path: str | Path,
    *,
    output_dir: str | Path | None = None,
    write: bool = True,
    report: bool = False,
    progress: Callable[[float, float], None] | None = None,
) -> dict[str, Any]:
    """Simulate a scenario file and return its summary.

    Parameters
    ----------
    path : str or Path
        Scenario TOML file.
    output_dir : str or Path, optional
        Where to write ``results.nc`` and ``summary.json``; default ``[simulation]
        output_dir`` or ``results/<file stem>``.
    write : bool
        Write the output folder (atomically).
    report : bool
        Also write ``report.html`` (plots, assumptions) into the output folder; its path
        is the summary's ``report_html``. Needs ``write``.
    progress : callable, optional
        ``progress(simulated_s, horizon_s)`` while the simulation runs.
    """
    from simplan.metrics import summarize
    from simplan.results import to_dataset, write_json, write_netcdf
    from simplan.sim import simulate
    from simplan.tempfiles import check_output_folder

    scenario = load_scenario(path)
    out = Path(output_dir or scenario.simulation.output_dir or Path("results") / Path(path).stem)
    if report and not write:
        raise SimplanError("a report is written into the output folder: it needs `write`")
    if write:  # before any work: a bad output path costs nothing
        check_output_folder(out, source=str(out))
    with _named(path):
        result = simulate(scenario, progress=progress)
    summary = summarize(result)
    if write:
        ds = to_dataset(result, summary, Path(path).read_text(encoding="utf-8"))
        write_netcdf(out / "results.nc", ds)
        write_json(out / "summary.json", summary)
        summary = {**summary, "output_dir": str(out)}
        if report:
            from simplan.report import write_report

            summary["report_html"] = str(write_report(out))
    return summary


def validate(
    csv_path: str | Path | None = None,
    *,
    output_dir: str | Path | None = "results/validate",
    max_load: bool = True,
) -> dict[str, Any]:
    """Predict the published measurements and report the error by source and metric.

    Writes ``predictions.csv`` and ``predicted_vs_measured.png`` to ``output_dir``
    (None: write nothing). Returns ``{"summary": ..., "table": [...], "rows": [...]}``.
    """
    from simplan import validate as v

    rows = v.validate_rows(Path(csv_path) if csv_path else None, max_load=max_load)
    result = {
        "summary": v.summarize_errors(rows),
        "table": v.error_table(rows),
        "rows": v.rows_as_dicts(rows),
    }
    if output_dir is not None:
        out = Path(output_dir)
        v.write_rows_csv(rows, out / "predictions.csv")
        v.plot_predicted_vs_measured(rows, out / "predicted_vs_measured.png")
        result["output_dir"] = str(out)
    return result


def sweep(
    path: str | Path,
    *,
    method: str = "fast",
    output: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_points: int | None = None,
    verify: int = 0,
) -> Any:
    """Evaluate a scenario's ``[sweep]`` grid; returns an ``xarray.Dataset``.

    ``method`` is ``fast`` (compiled steady-state model) or ``simulate`` (the simulation at
    every point, in parallel with Dask). ``output`` ending in ``.zarr`` is resumable (a
    fast sweep is then computed and written in blocks, and the Dataset returned is the
    store, opened lazily); ``.nc`` is written once at the end. ``scheduler`` is a
    ``dask.distributed`` address (default: a local process cluster with ``workers``
    workers; a fast sweep runs in this process unless one of the two is given).
    ``max_points`` raises the limit on grid points
    (:data:`simplan.feasibility.MAX_SWEEP_POINTS`). ``verify`` simulates that many of a
    fast sweep's cheapest passing points with three seeds each, recorded in the Dataset's
    ``verification`` attribute (:mod:`simplan.sweep.verified`).
    """
    from simplan.feasibility import MAX_SWEEP_POINTS
    from simplan.sweep import run_sweep

    with _named(path):
        return run_sweep(
            path,
            method=method,
            output=output,
            scheduler=scheduler,
            workers=workers,
            progress=progress,
            max_points=MAX_SWEEP_POINTS if max_points is None else max_points,
            verify=verify,
        )


def plan(
    path: str | Path,
    *,
    gpus: list[str] | None = None,
    weights: list[str] | None = None,
    tp: list[int] | None = None,
    pricing: list[str] | None = None,
    top: int = 5,
    verify_candidates: int = 3,
    scheduler: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """The cheapest fleet meeting the scenario's SLO at its load (see :mod:`simplan.plan`).

    ``verify_candidates`` configurations are checked by simulation (0: fast model only),
    their seeds in parallel on the Dask scheduler at ``scheduler`` or a local cluster of
    ``workers`` processes when either is given.
    """
    from simplan.plan import plan as _plan

    with _named(path):
        return _plan(
            path,
            gpus=gpus,
            weights=weights,
            tp=tp,
            pricing=pricing,
            top=top,
            verify_candidates=verify_candidates,
            scheduler=scheduler,
            workers=workers,
        )


def plot(
    path: str | Path, *, kinds: list[str] | None = None, out_dir: str | Path | None = None
) -> list[Path]:
    """Render the plots that apply to a run's results.nc or a sweep (PNG and SVG)."""
    from simplan.plots import plot_results

    return plot_results(Path(path), kinds=kinds, out_dir=Path(out_dir) if out_dir else None)


def report(path: str | Path, *, output: str | Path | None = None) -> Path:
    """Write one self-contained HTML report for a run folder or a sweep file.

    Parameters
    ----------
    path : str or Path
        A run's output folder (or its ``results.nc``) or a sweep's ``.nc``/``.zarr``.
    output : str or Path, optional
        The HTML file; default ``report.html`` in a run's folder, ``<stem>_report.html``
        beside a sweep.
    """
    from simplan.report import write_report

    return write_report(Path(path), Path(output) if output else None)


def calibrate(
    logs: list[str | Path],
    *,
    scenario: str | Path,
    output: str | Path | None = None,
    factors: list[str] | None = None,
    max_requests: int | None = None,
    write: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fit the deployment's factors to its benchmark logs; write a calibration profile.

    Parameters
    ----------
    logs : list of str or Path
        vLLM result JSON (``vllm bench serve --save-result``), SGLang ``bench_serving``
        JSONL or GenAI-Perf/AIPerf JSON exports, all of the same deployment.
    scenario : str or Path
        The scenario file describing that deployment (model, hardware, engine).
    output : str or Path, optional
        The profile (``.toml``); a plot goes beside it (``.png``). Default
        ``<scenario stem>.calibration.toml`` in the current folder.
    factors : list of str, optional
        Factors to consider (default: all); see :data:`simplan.calibrate.FACTORS`.
    max_requests : int, optional
        The most requests a rate-driven run is simulated with (default
        :data:`simplan.calibrate.MAX_SIMULATED_REQUESTS`).
    write : bool
        Write the profile and the plot.
    progress : callable, optional
        ``progress(simulations_done)`` after each simulated run.
    """
    from simplan.calibrate import MAX_SIMULATED_REQUESTS
    from simplan.calibrate import calibrate as _calibrate

    with _named(scenario):
        return _calibrate(
            logs,
            scenario=scenario,
            output=output,
            factors=factors,
            max_requests=max_requests or MAX_SIMULATED_REQUESTS,
            write=write,
            progress=progress,
        )
