"""Fit an engine preset's host costs once over every calibration row it ran.

vLLM's V0 engine (before 0.8.0) schedules, samples and detokenizes each sequence in Python
every iteration, and its async engine hands each streaming request a ``RequestOutput``
every step; under load that host time, not the GPU, sets the pace. A batch run through
``LLM.generate`` asks for final outputs only (``RequestOutputKind.FINAL_ONLY``), so it
skips the streaming work: AccelMark's vLLM 0.7.3 offline throughput (``LLM.generate``)
is within 10-50% of the roofline while its Poisson runs (``AsyncLLMEngine``, streamed)
take 2-4x the GPU's time per token at 5 requests/s.

The constants are fitted together by minimising a robust loss of the log error (pseudo-
Huber with a 20% scale: squared for small errors, linear for large ones, so a row the
model does not describe, such as SGLang 0.4.6's GPTQ MoE path at 4x its BF16 time, does
not set a host constant) over all rows of both calibration files whose engine is that
preset (each row weighted equally; one fit, never per row), and written to
calibration.toml as ``[engine_overheads.<preset>]``. ``--params`` names which of them a
preset's rows can tell apart (batch-1 rows see only the per-iteration cost):

* ``iteration_overhead_s``: host time per scheduler iteration;
* ``sequence_overhead_s``: host time per sequence per iteration;
* ``stream_sequence_overhead_s``: the extra host time per sequence per iteration when the
  clients stream (every arrival but ``offline``).

Usage: python tools/fit_engine_overheads.py [--preset vllm-v0] [--params a,b] [--write]
"""

from __future__ import annotations

import argparse

import numpy as np
from caltoml import write_fit
from scipy.optimize import minimize
from simplan import calibration
from simplan.validate import default_csvs, predict_row, read_rows
from simplan.validate.errors import error_by
from simplan.validate.rows import Row, read_spec

PARAMS = ("iteration_overhead_s", "sequence_overhead_s", "stream_sequence_overhead_s")
#: The coarse grid the search starts from (seconds; the loss is not convex in the three
#: costs, so a local search from one fixed point can stop in a poor valley). The search
#: is in log space, so no cost may be 0.
GRID = {
    "iteration_overhead_s": (1e-4, 3e-4, 1e-3, 2e-3, 4e-3, 8e-3),
    "sequence_overhead_s": (1.5e-5, 3e-5, 6e-5, 1.2e-4),
    "stream_sequence_overhead_s": (6e-5, 1.2e-4, 2.4e-4),
}
#: Below this a fitted host cost is written as 0 (0.1 us: far below any row's resolution).
NEGLIGIBLE_S = 1e-7
#: The log error at which the loss turns from squared to linear.
HUBER_SCALE = 0.2


def rows_of(preset: str) -> list[tuple[dict[str, str], int, str]]:
    out = []
    for path in default_csvs():
        for i, raw in enumerate(read_rows(path)):
            spec = read_spec(raw, raw["source_id"])
            if not isinstance(spec, str) and spec.preset == preset:
                out.append((raw, i + 2, path.name))
    return out


def predict(
    rows: list[tuple[dict[str, str], int, str]], preset: str, costs: dict[str, float]
) -> list[Row]:
    calibration.set_calibration_override({"engine_overheads": {preset: costs}})
    cache: dict = {}
    return [predict_row(raw, line, cache=cache) for raw, line, _ in rows]


def loss(
    rows: list[tuple[dict[str, str], int, str]],
    preset: str,
    kept: dict[str, float],
    params: tuple[str, ...],
    log_costs: np.ndarray,
) -> float:
    # the preset's costs that are not being fitted stay as shipped
    got = predict(rows, preset, {**kept, **dict(zip(params, np.exp(log_costs), strict=True))})
    return robust_loss(got)


def robust_loss(got: list[Row]) -> float:
    """Mean pseudo-Huber loss of the predicted rows' log errors (:data:`HUBER_SCALE`)."""
    z = np.array([np.log1p(r.rel_error) for r in got if r.rel_error is not None]) / HUBER_SCALE
    return float(np.mean(2.0 * (np.sqrt(1.0 + z**2) - 1.0)))


def write(preset: str, costs: dict[str, float], n_rows: int, median: float) -> None:
    header = f'engine_overheads."{preset}"'
    write_fit(header, costs, n_rows, median, f"every {preset} row", "tools/fit_engine_overheads.py")


def report(name: str, got: list[Row]) -> None:
    by_metric = {
        k: f"{v['median_abs_error']:.1%} of {v['count']}"
        for k, v in error_by(got, "metric").items()
    }
    print(f"{name}: by metric", by_metric)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="vllm-v0")
    ap.add_argument("--params", default=",".join(PARAMS), help="comma-separated costs to fit")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    params = tuple(args.params.split(","))
    if not set(params) <= set(PARAMS):
        ap.error(f"--params: choose from {', '.join(PARAMS)}")
    rows = rows_of(args.preset)
    print(f"{len(rows)} rows ran on {args.preset}")
    table = calibration.constants().get("engine_overheads", {}).get(args.preset, {})
    shipped = {k: float(table[k]) for k in PARAMS if k in table}
    before = predict(rows, args.preset, shipped)
    kept = {k: v for k, v in shipped.items() if k not in params}
    axes = [GRID[p] for p in params]
    points = np.log(np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(params), -1).T)
    start = min(points, key=lambda x: loss(rows, args.preset, kept, params, x))
    res = minimize(
        lambda x: loss(rows, args.preset, kept, params, x),
        start,
        method="Nelder-Mead",
        options={"xatol": 0.02, "fatol": 1e-5, "maxfev": 300},
    )
    # a cost the search drove toward zero (its log toward minus infinity) is zero: the
    # rows cannot tell it from nothing
    costs = kept | {
        k: (float(v) if v >= NEGLIGIBLE_S else 0.0)
        for k, v in zip(params, np.exp(res.x), strict=True)
    }
    fitted = predict(rows, args.preset, costs)
    report(f"shipped {shipped}", before)
    report("fitted", fitted)
    median = float(np.median([abs(r.rel_error) for r in fitted if r.rel_error is not None]))
    shown = ", ".join(f"{k} = {v * 1e6:.4g} us" for k, v in costs.items())
    print(f"{shown} ({res.nfev} evaluations, loss {res.fun:.4f}); median |error| {median:.1%}")
    if args.write:
        n = sum(r.rel_error is not None for r in fitted)
        write(args.preset, costs, n, median)


if __name__ == "__main__":
    main()
