"""`simplan calibrate` finds known factors again, and on published measurements predicts
held-out loads better than the catalog, inside its stated 80% band."""

from __future__ import annotations

import json
import math
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from bench_logs import (
    ACCELMARK_SCENARIO,
    ROUND_TRIP_DEPLOYMENT,
    ROUND_TRIP_LOADS,
    ROUND_TRIP_TOML,
    accelmark_logs,
    simulated_vllm_log,
    write_logs,
)
from simplan import api, calibration


def test_round_trip_recovers_the_factors_it_was_given(tmp_path: Path) -> None:
    # a deployment 15% slower in compute and with 2.6 times the catalog's host time per
    # step
    truth = {
        "compute_efficiency_scale": 0.85,
        "memory_efficiency_scale": 1.0,
        "iteration_overhead_s": 2.6 * float(calibration.constants()["iteration_overhead_s"]),
        "sequence_overhead_s": 0.0,
    }
    engine = {"calibration": {k: v for k, v in truth.items() if k != "sequence_overhead_s"}}
    logs = [
        simulated_vllm_log(
            {**ROUND_TRIP_DEPLOYMENT, "engine": engine, "workload": w}, per_request=False
        )
        for w in ROUND_TRIP_LOADS
    ]
    paths = write_logs(tmp_path, logs)
    (tmp_path / "dep.toml").write_text(ROUND_TRIP_TOML, encoding="utf-8")
    s = api.calibrate(paths, scenario=tmp_path / "dep.toml", output=tmp_path / "p.toml")
    fitted = {**{k: truth[k] for k in s["held"]}, **s["fitted"]}
    assert "compute_efficiency_scale" in s["fitted"] and "iteration_overhead_s" in s["fitted"]
    for name, value in s["fitted"].items():
        if truth[name] == 0.0:
            assert value < 2e-6, (name, value)  # under 2 us per sequence: no such overhead
            continue
        assert value == pytest.approx(truth[name], rel=0.06), (name, value)
    assert fitted["compute_efficiency_scale"] == pytest.approx(0.85, rel=0.02)
    for name, (lo, hi) in s["intervals_80"].items():
        assert lo <= truth[name] * 1.01 and hi >= truth[name] * 0.99, (name, lo, hi)
    for field, e in s["error"].items():
        assert e["before"] > 0.05 and e["after"] < 0.02, (field, e)
    # the written profile is what a scenario applies
    profile = tomllib.loads((tmp_path / "p.toml").read_text(encoding="utf-8"))
    assert profile["factors"]["gpu"] == "h100-sxm"
    assert profile["factors"]["compute_efficiency_scale"] == pytest.approx(
        s["fitted"]["compute_efficiency_scale"], rel=1e-5
    )
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_two_runs_support_one_factor_and_say_why(tmp_path: Path) -> None:
    logs = [
        simulated_vllm_log({**ROUND_TRIP_DEPLOYMENT, "workload": w}, per_request=False)
        for w in ROUND_TRIP_LOADS[:2]
    ]
    (tmp_path / "dep.toml").write_text(ROUND_TRIP_TOML, encoding="utf-8")
    s = api.calibrate(write_logs(tmp_path, logs), scenario=tmp_path / "dep.toml", write=False)
    assert len(s["fitted"]) <= 1
    assert len(s["fitted"]) + len(s["held"]) == 4
    assert any("2 run(s) support at most 1 factor" in why for why in s["held"].values())


WEIGHTS = ("bf16", "fp8", "int8", "int8-wo", "int4-gptq")
RATES = ("5", "10", "25")
#: Requests simulated per run (the published runs had 900): enough for medians.
REQUESTS = 200


def _held_out(args: tuple[str, str, str]) -> list[tuple[float, float, float, float]]:
    """Calibrate one weight format on all loads but ``hold``; predict ``hold``:
    (measured, catalog prediction, calibrated prediction, band) per field."""
    folder, weights, hold = args
    from simplan.benchlogs import read_logs
    from simplan.calibrate.runs import predict, run_scenario
    from simplan.scenario import read_scenario_dict

    d = Path(folder) / f"{weights}_{hold}"
    d.mkdir()
    paths = {}
    for load, log in accelmark_logs(weights).items():
        paths[load] = d / f"{load}.json"
        paths[load].write_text(json.dumps(log), encoding="utf-8")
    (d / "dep.toml").write_text(ACCELMARK_SCENARIO.format(weights=weights), encoding="utf-8")
    fit_on = [p for load, p in paths.items() if load != hold]
    s = api.calibrate(fit_on, scenario=d / "dep.toml", max_requests=REQUESTS, write=False)
    raw = read_scenario_dict(d / "dep.toml")
    (held,) = read_logs([paths[hold]])
    catalog = predict(run_scenario(raw, "", held, None, None, REQUESTS))
    calibrated = predict(run_scenario(raw, "", held, s["fitted"], None, REQUESTS))
    return [
        (m, catalog[k], calibrated[k], s["band_80"][k.split("_", 1)[0]])
        for k, m in held.measured.items()
    ]


def test_published_loads_held_out_are_predicted_better_and_inside_the_band(
    tmp_path: Path,
) -> None:
    """AccelMark suite C, Llama-3.1-8B on one A100 with vLLM 0.7.3, five weight formats:
    each format is calibrated on its offline run and two of its three Poisson rates, then
    predicts the third rate's median TTFT and TPOT (30 held-out values)."""
    jobs = [(str(tmp_path), w, hold) for w in WEIGHTS for hold in RATES]
    with ProcessPoolExecutor(2) as pool:
        rows = [row for fold in pool.map(_held_out, jobs) for row in fold]
    m, before, after, band = (np.array(x) for x in zip(*rows, strict=True))
    assert m.size == 30
    err_before = np.median(np.abs(before / m - 1))
    err_after = np.median(np.abs(after / m - 1))
    assert err_after < 0.6 * err_before, (err_before, err_after)
    inside = np.mean((m >= after / band) & (m <= after * band))
    assert 0.7 <= inside <= 0.9, inside
    assert math.isfinite(float(band.max()))


def test_the_fit_starts_from_the_engines_own_host_costs(tmp_path: Path) -> None:
    # logs of an SGLang deployment exactly as the catalog models it: the fit's starting
    # point must be what SGLang runs with (its preset's host step, not the shared one),
    # so the catalog's prediction before any fit already matches the logs
    logs = [
        simulated_vllm_log(
            {**ROUND_TRIP_DEPLOYMENT, "engine": {"name": "sglang"}, "workload": w},
            per_request=False,
        )
        for w in ROUND_TRIP_LOADS[:2]
    ]
    toml = ROUND_TRIP_TOML + '[engine]\nname = "sglang"\n'
    (tmp_path / "dep.toml").write_text(toml, encoding="utf-8")
    s = api.calibrate(write_logs(tmp_path, logs), scenario=tmp_path / "dep.toml", write=False)
    for field, e in s["error"].items():
        assert e["before"] < 0.01, (field, e)
