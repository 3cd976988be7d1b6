"""Sweep scale: wall time and peak memory of large fast sweeps, streamed to Zarr or held.

Usage: python benchmarks/bench_sweep_scale.py [--big N] [--quick]

Each case runs in a fresh process (so its peak RSS is its own) in one run of this
script, so the ratios compare like with like:

* ``import``: the interpreter with simplan, numba, xarray and dask imported (the floor);
* a 1.2M-point grid written to ``.nc`` (held in memory, then written) and to ``.zarr``
  (computed and written in blocks, :mod:`simplan.sweep.run`);
* a 10^7-point grid both ways (the largest the in-memory path allows);
* a 2x10^7-point grid to ``.zarr`` (default ``--big``), in this process and with its
  blocks evaluated on 2 local Dask workers, and the summary `simplan sweep` prints, read
  back from the store in blocks;
* the compute part alone (:meth:`simplan.sweep.FastGrid.evaluate`), in points per second.

Targets (issue 16, 2-core machine): 1.2M points to Zarr under 20 s and 1.5 GB; 2x10^7
under 2 minutes and 2.5 GB; compute >= 10^7 points/s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

GRID = """
name = "scale sweep"
[model]
name = "llama-3.1-70b"
weights = "fp8"
[hardware]
gpu = "h100-sxm"
tp = 2
[workload]
rate_per_s = 1.0
duration_s = 600
input_tokens = 800
output_tokens = 250
[slo]
ttft_p95_s = 2.0
tpot_p95_s = 0.08
[sweep]
"hardware.gpu" = ["a100-sxm4-80gb", "h100-sxm"]
"model.weights" = ["fp8", "int4-awq"]
"hardware.pricing" = ["on_demand", "spot", "reserved"]
"hardware.replicas" = {{ start = 1, stop = {replicas}, num = {replicas} }}
"workload.rate_per_s" = {{ start = 0.1, stop = 500, num = 1000, log = true }}
"""

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from simplan import api
from simplan.sweep.summary import sweep_summary
case, scenario, out = sys.argv[1], sys.argv[2], sys.argv[3]
t1 = time.perf_counter()
if case == "import":
    points = 0
elif case == "compute":
    from simplan.scenario import read_scenario_dict, scenario_from_dict
    from simplan.sweep import prepare_fast, sweep_axes
    raw = read_scenario_dict(scenario)
    grid = prepare_fast(raw, sweep_axes(scenario_from_dict(raw)), scenario)
    points, step = grid.size, 1 << 20
    t1 = time.perf_counter()  # tables built: time the per-point evaluation only
    for start in range(0, points, step):
        grid.evaluate(start, min(start + step, points))
else:
    workers = 2 if case == "zarr2w" else None
    ds = api.sweep(scenario, output=out, workers=workers)
    points = int(ds["reason"].size)
    if case == "summary":
        t1 = time.perf_counter()
        sweep_summary(ds)
t2 = time.perf_counter()
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"points": points, "seconds": t2 - t1, "rss_mb": rss_mb}))
"""


def run_case(case: str, scenario: Path, out: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, case, str(scenario), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=20_000_000, help="points of the largest grid")
    ap.add_argument("--quick", action="store_true", help="1.2M-point cases only")
    args = ap.parse_args()
    per_replica = 2 * 2 * 3 * 1000  # points per replica count
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)

        def grid(points: int) -> Path:
            p = d / f"grid_{points}.toml"
            p.write_text(GRID.format(replicas=max(1, points // per_replica)), encoding="utf-8")
            return p

        sizes = [1_200_000] if args.quick else [1_200_000, 10_000_000]
        rows.append(("import only (the floor)", run_case("import", grid(sizes[0]), d / "x")))
        for n in sizes:
            g = grid(n)
            rows.append((f"{n:,} points -> .nc (in memory)", run_case("nc", g, d / f"{n}.nc")))
            rows.append((f"{n:,} points -> .zarr (blocks)", run_case("zarr", g, d / f"{n}.zarr")))
        if not args.quick:
            g = grid(args.big)
            out = d / "big.zarr"
            rows.append((f"{args.big:,} points -> .zarr (blocks)", run_case("zarr", g, out)))
            out2 = d / "big2.zarr"
            rows.append(("  the same on 2 Dask workers", run_case("zarr2w", g, out2)))
            rows.append(("  its summary, read back in blocks", run_case("summary", g, out)))
            rows.append((f"{args.big:,} points, compute only", run_case("compute", g, out)))
    print(f"{'case':44s} {'points':>12s} {'seconds':>8s} {'peak MB':>8s} {'points/s':>12s}")
    for what, r in rows:
        rate = f"{r['points'] / r['seconds']:12,.0f}" if r["points"] else f"{'':12s}"
        print(f"{what:44s} {r['points']:12,d} {r['seconds']:8.2f} {r['rss_mb']:8.0f} {rate}")
    by = dict(rows)
    floor = by["import only (the floor)"]["rss_mb"]
    for n in sizes:
        nc, zr = by[f"{n:,} points -> .nc (in memory)"], by[f"{n:,} points -> .zarr (blocks)"]
        print(
            f"{n:,} points: zarr/nc time {zr['seconds'] / nc['seconds']:.2f}x, memory above "
            f"the import floor {(zr['rss_mb'] - floor) / max(nc['rss_mb'] - floor, 1):.2f}x"
        )


if __name__ == "__main__":
    main()
