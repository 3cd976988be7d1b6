"""Fit a source's load-generator send time once over every calibration row of the source.

A closed-loop benchmark whose clients are threads of one Python process sends its
requests one at a time (:func:`simplan.validate.harness.client_send_s` says why LMDeploy's
does). No source states how long each send takes, so it is fitted here: the one value that
minimises the robust loss of the log error (as tools/fit_engine_overheads.py: pseudo-Huber
with a 20% scale) over all of the source's rows, every metric, each row weighted equally,
never per row. It is written to calibration.toml as ``[harness."<source>"]``.

Usage: python tools/fit_harness.py [--source LMDEPLOY_A100] [--write]
"""

from __future__ import annotations

import argparse

import numpy as np
from caltoml import write_fit
from fit_engine_overheads import report, robust_loss
from simplan import calibration
from simplan.validate import default_csvs, predict_row, read_rows
from simplan.validate.rows import Row

#: The send times tried (seconds, a log grid from 1 us to 5 ms). The loss is a step
#: function of the send time (it changes which requests share an engine iteration), so a
#: local search cannot refine it; the fit is the grid's minimum. On LMDeploy's rows
#: (2026-12-04) the loss falls as the time goes to zero and is flat below 5 us: what the
#: rows tell apart is that the clients' requests arrive one after another, not how far
#: apart (docs/model.md).
GRID_S = tuple(float(x) for x in np.geomspace(1e-6, 5e-3, 25))


def rows_of(source: str) -> list[tuple[dict[str, str], int]]:
    return [
        (raw, i + 2)
        for path in default_csvs()
        for i, raw in enumerate(read_rows(path))
        if raw["source_id"] == source
    ]


def predict(rows: list[tuple[dict[str, str], int]], source: str, send_s: float) -> list[Row]:
    calibration.set_calibration_override({"harness": {source: {"client_send_s": send_s}}})
    cache: dict = {}
    return [predict_row(raw, line, cache=cache) for raw, line in rows]


def write(source: str, send_s: float, n_rows: int, median: float) -> None:
    values = {"client_send_s": send_s}
    write_fit(
        f'harness."{source}"', values, n_rows, median, f"every {source} row", "tools/fit_harness.py"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="LMDEPLOY_A100")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = rows_of(args.source)
    print(f"{len(rows)} rows of {args.source}")

    def loss(log_s: float) -> float:
        return robust_loss(predict(rows, args.source, float(np.exp(log_s))))

    before = predict(rows, args.source, 0.0)
    grid = {t: loss(float(np.log(t))) for t in GRID_S}
    send_s = min(grid, key=lambda t: grid[t])
    fitted = predict(rows, args.source, send_s)
    report("send time 0", before)
    report(f"send time {send_s * 1e3:.3g} ms", fitted)
    print(
        f"loss: {robust_loss(before):.4f} at 0;",
        {f"{k * 1e3:.3g} ms": round(v, 4) for k, v in grid.items()},
    )
    median = float(np.median([abs(r.rel_error) for r in fitted if r.rel_error is not None]))
    print(
        f"client_send_s = {send_s * 1e3:.4g} ms (loss {grid[send_s]:.4f}); median |error| {median:.1%}"
    )
    if args.write:
        write(args.source, send_s, sum(r.rel_error is not None for r in fitted), median)


if __name__ == "__main__":
    main()
