"""``simplan calibrate``: fit the performance model to a deployment's own benchmark logs.

:mod:`simplan.benchlogs` reads the logs; :mod:`simplan.calibrate.runs` turns each run into
a scenario of the user's deployment; :mod:`simplan.calibrate.fit` fits the factors the
runs support; :mod:`simplan.calibration_profile` writes the profile a scenario applies.
The method is stated in docs/calibrate.md.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from simplan.benchlogs import THROUGHPUT, BenchRun, read_logs
from simplan.calibrate.fit import FACTORS, FitResult, Residuals, fit, quantile_80
from simplan.calibrate.runs import (
    MAX_OFFLINE_REQUESTS,
    MAX_SIMULATED_REQUESTS,
    evidence,
    predict,
    run_scenario,
    write_lengths,
)
from simplan.calibration import constants as catalog_calibration
from simplan.calibration import preset_overheads
from simplan.calibration_profile import is_simplan_profile, profile_text
from simplan.errors import Problem, SimplanError, nearest
from simplan.plots.calibration import write_calibration_plot
from simplan.scenario import load_scenario, read_scenario_dict
from simplan.tempfiles import atomic_write, check_output_folder

__all__ = ["FACTORS", "MAX_SIMULATED_REQUESTS", "calibrate", "default_output"]

#: Metric families that share a band (the statistics of one latency move together).
FAMILIES = ("ttft", "tpot", "e2e", THROUGHPUT)


def default_output(scenario: str | Path) -> Path:
    """Where a profile goes when no ``output`` is given: ``<scenario stem>.calibration.toml``."""
    return Path(f"{Path(scenario).stem}.calibration.toml")


def _check_output(output: Path) -> Path:
    """Refuse, before any work, to replace a file simplan did not write; returns the plot path."""
    plot = output.with_suffix(".png")
    if output.suffix != ".toml":
        raise SimplanError("a calibration profile is a .toml file", source=str(output))
    if output.exists() and (output.is_dir() or not is_simplan_profile(output)):
        raise SimplanError(
            "the output exists and is not a calibration profile written by simplan; "
            "simplan never overwrites it: choose another path",
            source=str(output),
        )
    if plot.exists() and not output.exists():
        raise SimplanError(
            f"{plot} exists and was not written with this profile; simplan never "
            "overwrites it: choose another output path",
            source=str(output),
        )
    check_output_folder(
        output.parent if str(output.parent) else Path("."), str(output), output.name
    )
    return plot


def _check_factors(factors: list[str] | None) -> list[str]:
    if factors is None:
        return list(FACTORS)
    bad = [
        Problem("factors", f"unknown factor{_hint(f)} (allowed: {', '.join(FACTORS)})", f, True)
        for f in factors
        if f not in FACTORS
    ]
    if bad or not factors:
        raise SimplanError(
            "invalid factors to fit",
            bad or [Problem("factors", f"name at least one of {', '.join(FACTORS)}")],
        )
    return [f for f in FACTORS if f in factors]


def _hint(name: str) -> str:
    near = nearest(name, FACTORS)
    return f"; did you mean {near!r}?" if near else ""


def _family(key: str) -> str:
    return THROUGHPUT if key == THROUGHPUT else key.split("_", 1)[0]


def _median_abs(r: np.ndarray) -> float:
    return float(np.median(np.abs(np.expm1(r)))) if r.size else math.nan


def calibrate(
    logs: list[str | Path],
    *,
    scenario: str | Path,
    output: str | Path | None = None,
    factors: list[str] | None = None,
    max_requests: int = MAX_SIMULATED_REQUESTS,
    write: bool = True,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fit a deployment's factors to its benchmark logs and write a calibration profile.

    Parameters
    ----------
    logs : list of str or Path
        vLLM result JSON, SGLang bench_serving JSONL or GenAI-Perf JSON exports.
    scenario : str or Path
        The deployment the logs measured: ``[model]``, ``[hardware]`` (one replica type)
        and ``[engine]``; its workload, objectives and sweep are ignored.
    output : str or Path, optional
        The profile to write (``.toml``); a predicted-vs-measured plot goes beside it
        (``.png``). Default: :func:`default_output`.
    factors : list of str, optional
        The factors to consider (default all of :data:`FACTORS`); the fit keeps only those
        the runs determine, and says why for the others.
    max_requests : int
        The most requests a rate-driven run is simulated with.
    write : bool
        Write the profile and the plot.
    progress : callable, optional
        ``progress(simulations_done)`` after each simulated run.

    Returns
    -------
    dict
        The fitted factors with 80% intervals, the held factors with reasons, errors
        before and after by metric, the leave-one-run-out error and bands, per-run rows.
    """
    runs = read_logs(list(logs))
    candidates = _check_factors(factors)
    sc = load_scenario(scenario)
    if sc.hardware.pools:
        raise SimplanError(
            "calibrate one deployment at a time: the scenario has several pools",
            [Problem("hardware.pools", "remove the extra pools for calibration")],
            source=str(scenario),
        )
    out = Path(output) if output is not None else default_output(scenario)
    plot = _check_output(out) if write else out.with_suffix(".png")
    raw = read_scenario_dict(scenario)
    raw.get("engine", {}).pop("calibration", None)  # the fit starts from the catalog
    source = str(scenario)

    # the host costs the scenario's engine runs with: its preset's where one is fitted
    base = {
        "compute_efficiency_scale": 1.0,
        "memory_efficiency_scale": 1.0,
        "iteration_overhead_s": float(catalog_calibration()["iteration_overhead_s"]),
        "sequence_overhead_s": float(catalog_calibration().get("sequence_overhead_s", 0.0)),
        **preset_overheads(sc.engine.preset, streaming=sc.workload.streams_tokens),
    }
    for run in runs:
        all_at_once = math.isinf(run.request_rate_per_s) and not run.max_concurrency
        if all_at_once and run.completed > MAX_OFFLINE_REQUESTS:
            run.notes.append(
                f"{run.completed:,} requests sent at once, simulated with "
                f"{MAX_OFFLINE_REQUESTS:,}: the throughput of so long a run has settled"
            )
    keys = [evidence(r) for r in runs]
    usable = [i for i, k in enumerate(keys) if k]
    unused = [runs[i].source for i in range(len(runs)) if i not in usable]
    if len(usable) < 2:
        raise SimplanError(
            f"calibration needs at least two runs with a latency, or a throughput measured "
            f"at full load: {len(usable)} of {len(runs)} have one (one run is held out in "
            "turn to check the fit)",
            [
                Problem(
                    r.source,
                    "usable"
                    if i in usable
                    else "at a request rate, throughput is the offered load: the run needs "
                    "its TTFT, TPOT or e2e fields",
                )
                for i, r in enumerate(runs)
            ],
        )
    runs = [runs[i] for i in usable]
    keys = [keys[i] for i in usable]
    run_of_row = np.array([i for i, k in enumerate(keys) for _ in k], dtype=np.int64)
    measured = np.array([runs[i].measured[k] for i, ks in enumerate(keys) for k in ks])
    with tempfile.TemporaryDirectory(prefix="simplan-calibrate-") as tmp:
        csvs = [
            Path(tmp) / f"run{i}.csv" if write_lengths(r, Path(tmp) / f"run{i}.csv") else None
            for i, r in enumerate(runs)
        ]

        done = [0]

        def evaluate(values: dict[str, float], seed_offset: int = 0) -> np.ndarray:
            rows = []
            for run, ks, csv in zip(runs, keys, csvs, strict=True):
                trial = run_scenario(raw, source, run, values, csv, max_requests, seed_offset)
                pred = predict(trial)
                done[0] += 1
                if progress is not None:
                    progress(done[0])
                rows += [
                    math.log(pred[k] / run.measured[k]) if pred[k] > 0 else math.nan for k in ks
                ]
            return np.array(rows)

        for run, csv in zip(runs, csvs, strict=True):  # a deployment that cannot run fails here
            run_scenario(raw, source, run, base, csv, max_requests)
        result = fit(
            Residuals(evaluate),
            candidates,
            base,
            run_of_row,
            len(runs),
            lambda values: evaluate(values, seed_offset=1),
        )
    summary = _summary(runs, keys, run_of_row, measured, result, sc, scenario, max_requests)
    summary["notes"] += [
        f"{src}: no latency field and its throughput is the offered load; not used"
        for src in unused
    ]
    if write:
        _write(out, plot, summary, runs, sc)
        summary = {**summary, "profile": str(out), "plot": str(plot)}
    return summary


#: Pseudo-count of the pooled error in each family's band: with a handful of runs a
#: family's own leave-one-run-out error is itself uncertain, so it is shrunk toward the
#: error over all fields.
POOLED_WEIGHT = 4.0


def _bands(flat_keys: list[str], result: FitResult, n_runs: int) -> dict[str, float]:
    """Half-width (as a ratio) of each family's 80% band: the leave-one-run-out error of
    that family, shrunk toward all fields' and never below what sampling alone gives.

    The fields of one run share its load and its sampling luck, so the runs, not the
    fields, are the independent draws: the band takes Student's t quantile with one
    degree of freedom fewer than there are runs."""
    loo = result.leave_one_out
    if loo is None:
        return {}
    pooled = float(np.mean(loo**2))
    bands = {}
    for fam in FAMILIES:
        rows = np.array([_family(k) == fam for k in flat_keys])
        if not rows.any():
            continue
        n = float(rows.sum())
        ms = (n * float(np.mean(loo[rows] ** 2)) + POOLED_WEIGHT * pooled) / (n + POOLED_WEIGHT)
        if result.seed_difference is not None:
            ms = max(ms, float(np.mean(result.seed_difference[rows] ** 2)))
        bands[fam] = math.exp(quantile_80(n_runs - 1) * math.sqrt(ms))
    return bands


def _summary(
    runs: list[BenchRun],
    keys: list[list[str]],
    run_of_row: np.ndarray,
    measured: np.ndarray,
    result: FitResult,
    sc: Any,
    scenario: str | Path,
    max_requests: int,
) -> dict[str, Any]:
    flat_keys = [k for ks in keys for k in ks]
    by_key: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(flat_keys):
        rows = np.array([k == key for k in flat_keys])
        entry = {
            "runs": int(rows.sum()),
            "before": _median_abs(result.before[rows]),
            "after": _median_abs(result.after[rows]),
        }
        if result.leave_one_out is not None:
            entry["leave_one_run_out"] = _median_abs(result.leave_one_out[rows])
        by_key[key] = entry
    bands = _bands(flat_keys, result, len(runs))
    per_run = []
    for i, run in enumerate(runs):
        rows = run_of_row == i
        per_run.append(
            {
                "source": run.source,
                "load": run.label,
                "requests": run.completed,
                "fields": {
                    k: {
                        "measured": float(m),
                        "before": float(m * math.exp(b)),
                        "after": float(m * math.exp(a)),
                    }
                    for k, m, b, a in zip(
                        keys[i],
                        measured[rows],
                        result.before[rows],
                        result.after[rows],
                        strict=True,
                    )
                },
                "notes": run.notes,
            }
        )
    engines = sorted({r.engine for r in runs if r.engine})
    return {
        "scenario": str(scenario),
        "runs": len(runs),
        "fields": len(flat_keys),
        "fitted": {n: result.values[n] for n in result.free},
        "intervals_80": {n: list(v) for n, v in result.intervals_80.items()},
        "held": result.held,
        "error": by_key,
        "band_80": bands,
        "simulations": result.evaluations * len(runs),
        "simulated_requests_per_run": max_requests,
        "engine": ", ".join(engines) or None,
        "model_id": next((r.model_id for r in runs if r.model_id), None),
        "gpu": sc.hardware.gpu,
        "per_run": per_run,
        "notes": result.notes,
    }


def _write(out: Path, plot: Path, summary: dict[str, Any], runs: list[BenchRun], sc: Any) -> None:
    factors: dict[str, Any] = dict(summary["fitted"])
    factors["gpu"] = sc.hardware.gpu
    deployment = {
        "model": sc.model.name or sc.model.config or "inline architecture",
        "gpu": sc.hardware.gpu,
        "weights": sc.model.weights,
        "kv_cache": sc.model.kv_cache,
        "tp": sc.hardware.tp,
        "pp": sc.hardware.pp,
        "replicas": sc.hardware.replicas,
        "engine": summary["engine"],
        "model_id": summary["model_id"],
    }
    err = summary["error"]
    fit_table: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "logs": [r.source for r in runs],
        "fitted": list(summary["fitted"]),
        "simulated_requests_per_run": summary["simulated_requests_per_run"],
        "held_at_catalog": summary["held"] or None,
        "interval_80": summary["intervals_80"] or None,
        "band_80": summary["band_80"] or None,
        "error_before": {k: v["before"] for k, v in err.items()},
        "error_after": {k: v["after"] for k, v in err.items()},
    }
    loo = {k: v["leave_one_run_out"] for k, v in err.items() if "leave_one_run_out" in v}
    if loo:
        fit_table["error_leave_one_run_out"] = loo
    text = profile_text(factors, deployment, {k: v for k, v in fit_table.items() if v is not None})
    atomic_write(plot, lambda tmp: write_calibration_plot(summary, tmp))
    atomic_write(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
