"""Fit simplan's end-to-end calibration constants once over the whole calibration set.

Two constants are fitted: ``iteration_overhead_s`` (scheduler, sampling and launch cost
per engine iteration) and ``kernel_overhead_scale`` (how much of the eager-mode per-kernel
cost of the Vidur profiles remains in CUDA-graph engines). They minimise the mean squared
log error over every modelled static-batch row of ``published_measurements.csv``, each
source weighted equally (so LMDeploy's 240 rows do not drown gpt-fast's 24). Max-load
rows are left out of the fit (they need the simulation) and serve as a held-out check.

Usage: python tools/calibrate.py [--write]
"""

from __future__ import annotations

import argparse
import datetime
import re
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from simplan import calibration
from simplan.validate import default_csv, summarize_errors, validate_rows

CAL_FILE = Path(__file__).resolve().parents[1] / "simulator" / "catalog" / "calibration.toml"


def loss(params: np.ndarray) -> float:
    t_iter = float(np.exp(params[0]))
    k_scale = float(1.0 / (1.0 + np.exp(-params[1])))  # in (0, 1)
    calibration.set_calibration_override(
        {"iteration_overhead_s": t_iter, "kernel_overhead_scale": k_scale}
    )
    rows = [r for r in validate_rows(default_csv(), max_load=False) if r.rel_error is not None]
    counts = Counter(r.source_id for r in rows)
    err = np.array([np.log1p(r.rel_error) for r in rows])  # type: ignore[arg-type]
    w = np.array([1.0 / counts[r.source_id] for r in rows])
    return float(np.sum(w * err**2) / np.sum(w))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="write calibration.toml")
    args = ap.parse_args()
    x0 = np.array([np.log(1e-3), 0.0])
    res = minimize(
        loss, x0, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-5, "maxfev": 120}
    )
    t_iter = float(np.exp(res.x[0]))
    k_scale = float(1.0 / (1.0 + np.exp(-res.x[1])))
    calibration.set_calibration_override(
        {"iteration_overhead_s": t_iter, "kernel_overhead_scale": k_scale}
    )
    stats = summarize_errors(validate_rows(default_csv(), max_load=False))
    # the bands plan states are fitted afterwards: python tools/fit_error_bands.py --write
    print(f"iteration_overhead_s = {t_iter:.6g}\nkernel_overhead_scale = {k_scale:.4g}")
    print(f"loss = {res.fun:.5f} after {res.nfev} evaluations")
    print(stats)
    if args.write:
        reserve = calibration.constants()["reserve_fixed_gib"]
        # the tables after the top-level keys (engine overheads, error bands) belong to
        # other tools: kept as they are
        old = CAL_FILE.read_text(encoding="utf-8")
        first_table = re.search(r"^(# .*\n)*\[", old, flags=re.M)
        tables = old[first_table.start() :] if first_table else ""
        CAL_FILE.write_text(
            "# End-to-end constants of the performance model that the operator profiles cannot give.\n"
            "# Fitted once over the whole calibration set by `python tools/calibrate.py --write`\n"
            "# (each source weighted equally; see docs/model.md); never per row.\n"
            f"iteration_overhead_s = {t_iter:.6g}\n"
            f"kernel_overhead_scale = {k_scale:.4g}\n"
            "# CUDA context, CUDA graphs and NCCL buffers per GPU (assumption, see docs/model.md)\n"
            f"reserve_fixed_gib = {reserve}\n"
            f"fit_median_abs_error = {stats['median_abs_error']:.4f}\n"
            f"fit_rows = {stats['predicted']}\n"
            'source = "published_measurements.csv (static-batch rows), fitted by tools/calibrate.py"\n'
            f'as_of = "{datetime.date.today().isoformat()}"\n\n' + tables
        )
        print(f"wrote {CAL_FILE}")


if __name__ == "__main__":
    main()
