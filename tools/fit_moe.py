"""Fit the two MoE constants once over every MoE calibration row.

A routed-expert layer is not a dense layer with fewer FLOPs: its GEMMs are grouped over
many small expert matrices (Qwen3-30B-A3B: 128 experts of 2048 x 768) and it runs
routing kernels a dense layer does not have (top-k, permute or align, combine). The
operator profiles hold no MoE kernels, so two constants are fitted end to end:

* ``half_efficiency_width``: a grouped expert GEMM reaches w / (w + this) of the dense
  GEMM's compute efficiency, w the expert's intermediate width on one GPU (the whole
  expert when expert-parallel, a 1/tp slice when tensor-parallel): narrow experts run
  short, thin tiles;
* ``routing_overhead_s``: a fixed time per MoE layer and iteration.

Both are fitted once over every row of both calibration files whose model is MoE (each
row weighted equally; one fit, never per row) by least squares on log(predicted /
measured) with a soft-L1 loss, so the few rows the model cannot express (SGLang's
GPTQ-INT4 MoE path, which its source says "needs improvement") do not steer the fit.
Written to calibration.toml as ``[moe]``.

Usage: python tools/fit_moe.py [--write]
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from caltoml import write_fit
from scipy.optimize import least_squares
from simplan import calibration, catalog
from simplan.validate import default_csvs, predict_row, read_rows
from simplan.validate.errors import error_by
from simplan.validate.rows import Row, read_spec

#: Residual scale of the soft-L1 loss: log errors beyond ~0.3 (35%) count linearly.
F_SCALE = 0.3


def moe_rows() -> list[tuple[dict[str, str], int]]:
    out = []
    for path in default_csvs():
        for i, raw in enumerate(read_rows(path)):
            spec = read_spec(raw, raw["source_id"])
            if not isinstance(spec, str) and catalog.model(spec.model).is_moe:
                out.append((raw, i + 2))
    return out


def _predict_chunk(
    rows: list[tuple[dict[str, str], int]], half_width: float, t0_s: float
) -> list[Row]:
    calibration.set_calibration_override(
        {"moe": {"half_efficiency_width": half_width, "routing_overhead_s": t0_s}}
    )
    cache: dict = {}
    return [predict_row(raw, line, cache=cache) for raw, line in rows]


def predict(rows: list[tuple[dict[str, str], int]], half_width: float, t0_s: float) -> list[Row]:
    """Every row predicted with the given constants, the rows split over the CPUs."""
    n = os.cpu_count() or 1
    chunks = [rows[i::n] for i in range(n)]
    with ProcessPoolExecutor(n) as pool:
        parts = list(pool.map(_predict_chunk, chunks, [half_width] * n, [t0_s] * n))
    by_line = {(r.source_id, r.line): r for part in parts for r in part}
    return [by_line[(raw["source_id"], line)] for raw, line in rows]


def residuals(rows: list[tuple[dict[str, str], int]], x: np.ndarray) -> np.ndarray:
    got = predict(rows, float(x[0]) * 1e3, float(x[1]) * 1e-5)
    return np.array([np.log1p(r.rel_error) if r.rel_error is not None else 0.0 for r in got])


def write(half_width: float, t0_s: float, n_rows: int, median: float) -> None:
    values = {"half_efficiency_width": half_width, "routing_overhead_s": t0_s}
    write_fit("moe", values, n_rows, median, "every MoE row", "tools/fit_moe.py")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = moe_rows()
    print(f"{len(rows)} MoE rows")
    # x = (half-efficiency width in units of 1000 features, overhead in units of 10 us)
    res = least_squares(
        lambda x: residuals(rows, x),
        x0=np.array([0.5, 2.0]),
        bounds=([0.0, 0.0], [20.0, 50.0]),
        loss="soft_l1",
        f_scale=F_SCALE,
        diff_step=0.05,
        max_nfev=30,
    )
    half_width, t0_s = float(res.x[0]) * 1e3, float(res.x[1]) * 1e-5
    for name, got in (
        ("before", predict(rows, 0.0, 0.0)),
        ("after", predict(rows, half_width, t0_s)),
    ):
        print(
            f"{name}: by source",
            {
                k: f"{v['median_abs_error']:.1%} of {v['count']}"
                for k, v in error_by(got, "source_id").items()
            },
        )
    fitted = predict(rows, half_width, t0_s)
    median = float(np.median([abs(r.rel_error) for r in fitted if r.rel_error is not None]))
    print(
        f"half_efficiency_width = {half_width:.4g}, routing_overhead_s = {t0_s:.4g} "
        f"({res.nfev} evaluations); median |error| {median:.1%}"
    )
    if args.write:
        write(half_width, t0_s, sum(r.rel_error is not None for r in fitted), median)


if __name__ == "__main__":
    main()
