"""Fit what a source's benchmark harness did but did not state, once over all its rows.

Two harness facts are known to matter but have no stated value
(:mod:`simplan.validate.harness` says why each applies to LMDeploy's tables):

* ``client_send_s``: a closed-loop benchmark whose clients are threads of one Python
  process sends its requests one at a time;
* ``compute_efficiency_scale``: the benchmark tuned its engine's GEMM algorithms for the
  model's shapes before measuring.

Each is fitted here as the one value that minimises the robust loss of the log error (as
tools/fit_engine_overheads.py: pseudo-Huber with a 20% scale) over all of the source's
rows, every metric, each row weighted equally, never per row; the other keeps its
shipped value (fit them in turn). The loss is a step function of the send time (it
changes which requests share an engine iteration), so a local search cannot refine it:
the fit is the minimum over a grid. The result is written to calibration.toml as
``[harness."<source>"]``.

Usage: python tools/fit_harness.py [--source LMDEPLOY_A100] [--param client_send_s] [--write]
"""

from __future__ import annotations

import argparse

import numpy as np
from caltoml import write_fit
from fit_engine_overheads import report, robust_loss
from simplan import calibration
from simplan.validate import default_csvs, predict_row, read_rows
from simplan.validate.harness import HARNESS_UNSET
from simplan.validate.rows import Row

#: The values tried. Send times: a log grid from 1 us to 5 ms; on LMDeploy's rows
#: (2026-12-04) the loss falls as the time goes to zero and is flat below 5 us: what the
#: rows tell apart is that the clients' requests arrive one after another, not how far
#: apart (docs/model.md). Compute scales: 0.8 to 1.6 in steps of 0.025.
GRIDS = {
    "client_send_s": tuple(float(x) for x in np.geomspace(1e-6, 5e-3, 25)),
    "compute_efficiency_scale": tuple(float(x) for x in np.linspace(0.8, 1.6, 33)),
}


def rows_of(source: str) -> list[tuple[dict[str, str], int]]:
    return [
        (raw, i + 2)
        for path in default_csvs()
        for i, raw in enumerate(read_rows(path))
        if raw["source_id"] == source
    ]


def predict(
    rows: list[tuple[dict[str, str], int]], source: str, table: dict[str, float]
) -> list[Row]:
    calibration.set_calibration_override({"harness": {source: table}})
    cache: dict = {}
    return [predict_row(raw, line, cache=cache) for raw, line in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="LMDEPLOY_A100")
    ap.add_argument("--param", default="client_send_s", choices=sorted(GRIDS))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = rows_of(args.source)
    print(f"{len(rows)} rows of {args.source}")
    shipped = calibration.constants().get("harness", {}).get(args.source, {})
    shipped = {k: float(shipped[k]) for k in GRIDS if k in shipped}

    def loss(value: float) -> float:
        return robust_loss(predict(rows, args.source, shipped | {args.param: value}))

    unset = predict(rows, args.source, shipped | {args.param: HARNESS_UNSET[args.param]})
    grid = {v: loss(v) for v in GRIDS[args.param]}
    best = min(grid, key=lambda v: grid[v])
    fitted = predict(rows, args.source, shipped | {args.param: best})
    report(f"{args.param} = {HARNESS_UNSET[args.param]:.4g}", unset)
    report(f"{args.param} = {best:.4g}", fitted)
    print(
        f"loss: {robust_loss(unset):.4f} at {HARNESS_UNSET[args.param]:g};",
        {f"{k:.3g}": round(v, 4) for k, v in grid.items()},
    )
    median = float(np.median([abs(r.rel_error) for r in fitted if r.rel_error is not None]))
    print(f"{args.param} = {best:.4g} (loss {grid[best]:.4f}); median |error| {median:.1%}")
    if args.write:
        n = sum(r.rel_error is not None for r in fitted)
        header = f'harness."{args.source}"'
        rows_text = f"every {args.source} row"
        write_fit(
            header, shipped | {args.param: best}, n, median, rows_text, "tools/fit_harness.py"
        )


if __name__ == "__main__":
    main()
