"""Fit an engine preset's host cost per sequence once over every calibration row it ran.

vLLM's V0 engine (before 0.8.0) schedules, samples and detokenizes each sequence in Python
every iteration; under load that host time, not the GPU, sets the pace (AccelMark's vLLM
0.7.3 rows: offline throughput 2-3x below the GPU roofline and nearly the same for every
weight format). One constant, ``sequence_overhead_s``, is fitted by minimising the mean
squared log error over all rows of both calibration files whose engine is that preset
(each row weighted equally; one fit, never per row), and written to calibration.toml as
``[engine_overheads.<preset>]``.

Usage: python tools/fit_engine_overheads.py [--preset vllm-v0] [--write]
"""

from __future__ import annotations

import argparse
import datetime
import re

import numpy as np
from caltoml import CAL_FILE, replace_table
from scipy.optimize import minimize_scalar
from simplan import calibration
from simplan.validate import default_csvs, predict_row, read_rows
from simplan.validate.errors import error_by
from simplan.validate.rows import Row, read_spec


def rows_of(preset: str) -> list[tuple[dict[str, str], int, str]]:
    out = []
    for path in default_csvs():
        for i, raw in enumerate(read_rows(path)):
            spec = read_spec(raw, raw["source_id"])
            if not isinstance(spec, str) and spec.preset == preset:
                out.append((raw, i + 2, path.name))
    return out


def predict(
    rows: list[tuple[dict[str, str], int, str]], preset: str, value: float, param: str
) -> list[Row]:
    # the preset's other fitted cost stays as shipped while this one moves
    kept = calibration.preset_overheads(preset)
    calibration.set_calibration_override({"engine_overheads": {preset: {**kept, param: value}}})
    cache: dict = {}
    return [predict_row(raw, line, cache=cache) for raw, line, _ in rows]


def loss(
    rows: list[tuple[dict[str, str], int, str]], preset: str, value: float, param: str
) -> float:
    got = predict(rows, preset, value, param)
    err = [np.log1p(r.rel_error) for r in got if r.rel_error is not None]
    return float(np.mean(np.square(err)))


def write(preset: str, costs: dict[str, float], n_rows: int, median: float) -> None:
    text = CAL_FILE.read_text(encoding="utf-8")
    table = (
        f'[engine_overheads."{preset}"]\n'
        + "".join(f"{k} = {v:.4g}\n" for k, v in costs.items())
        + f"fit_rows = {n_rows}\n"
        f"fit_median_abs_error = {median:.4f}\n"
        f'source = "every {preset} row of published_measurements*.csv, fitted by '
        'tools/fit_engine_overheads.py"\n'
        f'as_of = "{datetime.date.today().isoformat()}"\n'
    )
    text = replace_table(text, rf'engine_overheads\."{re.escape(preset)}"', table)
    CAL_FILE.write_text(text, encoding="utf-8")
    print(f"wrote [engine_overheads.{preset}] to {CAL_FILE}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="vllm-v0")
    ap.add_argument(
        "--param",
        default="sequence_overhead_s",
        choices=["sequence_overhead_s", "iteration_overhead_s"],
        help="the host cost to fit (per sequence and step, or per step)",
    )
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = rows_of(args.preset)
    print(f"{len(rows)} rows ran on {args.preset}")
    res = minimize_scalar(
        lambda x: loss(rows, args.preset, float(np.exp(x)), args.param),
        bounds=(np.log(1e-6), np.log(5e-3)),
        method="bounded",
        options={"xatol": 0.02},
    )
    value = float(np.exp(res.x))
    fitted = predict(rows, args.preset, value, args.param)
    shipped = calibration.preset_overheads(args.preset)
    shared = {"iteration_overhead_s": float(calibration.constants()["iteration_overhead_s"])}
    before = predict(
        rows, args.preset, shipped.get(args.param, shared.get(args.param, 0.0)), args.param
    )
    for name, got in (("with the shared constants", before), ("with the fitted cost", fitted)):
        print(
            f"{name}: by metric",
            {
                k: f"{v['median_abs_error']:.1%} of {v['count']}"
                for k, v in error_by(got, "metric").items()
            },
        )
    median = float(np.median([abs(r.rel_error) for r in fitted if r.rel_error is not None]))
    print(f"{args.param} = {value:.4g} ({res.nfev} evaluations); median |error| {median:.1%}")
    if args.write:
        n = sum(r.rel_error is not None for r in fitted)
        write(args.preset, {**shipped, args.param: value}, n, median)


if __name__ == "__main__":
    main()
