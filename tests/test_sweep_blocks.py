"""Fast sweeps in blocks: bounded memory, identical results, resume after a crash, limits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from simplan import api, feasibility
from simplan.cli import main
from simplan.errors import SimplanError
from simplan.sweep import run as sweep_run
from simplan.sweep.grid import block_chunks, grid_blocks
from simplan.sweep.summary import sweep_summary

GRID = """
name = "blocked sweep"
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 2.0
duration_s = 60
input_tokens = 500
output_tokens = 200
[slo]
ttft_p95_s = 1.0
tpot_p95_s = 0.05
[pricing]
apis = ["gpt-4o", "deepseek-v3"]
[sweep]
"hardware.gpu" = ["h100-sxm", "a100-sxm4-80gb"]
"hardware.replicas" = { start = 1, stop = 12, num = 12 }
"hardware.pricing" = ["on_demand", "spot"]
"workload.rate_per_s" = { start = 0.5, stop = 400, num = 25, log = true }
"""

#: 2 x 12 x 2 x 25 = 1,200 points; at most 64 points per block makes 24 blocks of
#: (1, 1, 2, 25) = 50 points, so a crash can land between any two of them.
BLOCK = 64


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(GRID, encoding="utf-8")
    return p


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    for name in a.data_vars:
        np.testing.assert_array_equal(np.asarray(a[name].values), np.asarray(b[name].values))


def test_blocks_tile_the_grid_in_flat_order() -> None:
    shape = (3, 5, 7)
    chunks = block_chunks({"a": 3, "b": 5, "c": 7}, block=20)
    blocks = grid_blocks(shape, tuple(chunks.values()))
    flat = np.zeros(int(np.prod(shape)), dtype=int)
    for b in blocks:
        flat[b.start : b.stop] += 1
        # the flat range is exactly the region's points
        grid = np.arange(flat.size).reshape(shape)
        np.testing.assert_array_equal(grid[b.region].reshape(-1), np.arange(b.start, b.stop))
    assert (flat == 1).all() and len(blocks) > 3


def test_a_blocked_zarr_sweep_equals_the_in_memory_one(grid: Path, tmp_path: Path) -> None:
    whole = api.sweep(grid)  # in memory, in default-size blocks (one here)
    out = tmp_path / "blocked.zarr"
    ticks: list[int] = []
    lazy = sweep_run.run_sweep(
        grid, output=out, block_points=BLOCK, progress=lambda done, total: ticks.append(done)
    )
    assert lazy["usd_per_mtok_total"].chunks is not None  # the store, opened lazily
    assert len(ticks) == 24 and ticks[-1] == 1200 and ticks == sorted(ticks)
    _same(whole, lazy.load())
    assert (out / ".zmetadata").exists()  # consolidated metadata
    stored = xr.open_zarr(out, consolidated=True)
    assert stored["reason"].chunks == ((1, 1), (1,) * 12, (2,), (25,))
    assert stored["block_done"].values.all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked.zarr", "grid.toml"]


def test_a_sweep_interrupted_between_blocks_resumes_where_it_stopped(
    grid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = api.sweep(grid)
    out = tmp_path / "resume.zarr"
    real = sweep_run.write_block
    calls = {"n": 0}

    def crash_after_five(*args: object, **kwargs: object) -> None:
        if calls["n"] == 5:
            raise KeyboardInterrupt
        calls["n"] += 1
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sweep_run, "write_block", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        sweep_run.run_sweep(grid, output=out, block_points=BLOCK)
    assert not out.exists()  # only a complete store is ever at the output path
    (tmp,) = tmp_path.glob("resume.zarr.tmp-*")
    # the process that wrote it has died: its marker names a process that is gone
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    marker = json.loads((tmp / ".simplan-sweep-tmp").read_text(encoding="utf-8"))
    marker["pid"] = int(dead.stdout)
    (tmp / ".simplan-sweep-tmp").write_text(json.dumps(marker), encoding="utf-8")
    monkeypatch.setattr(sweep_run, "write_block", real)
    ticks: list[int] = []
    again = sweep_run.run_sweep(
        grid, output=out, block_points=BLOCK, progress=lambda done, total: ticks.append(done)
    )
    assert ticks[0] == 6 * 50  # five blocks were kept; the sixth is the first computed
    assert len(ticks) == 24 - 5
    _same(reference, again.load())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml", "resume.zarr"]


SLOW_WRITER = """
import sys, time
from simplan.sweep import run
real = run.write_block
def slow(*a, **k):
    real(*a, **k)
    print("block", flush=True)
    time.sleep(0.3)
run.write_block = slow
run.run_sweep(sys.argv[1], output=sys.argv[2], block_points=64)
"""


def test_a_sweep_killed_mid_write_and_rerun_equals_an_uninterrupted_one(
    grid: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed.zarr"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(grid), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    end = time.monotonic() + 120
    blocks = 0
    while blocks < 3:
        assert time.monotonic() < end and proc.poll() is None
        blocks += proc.stdout.readline().startswith("block")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not out.exists() and len(list(tmp_path.glob("killed.zarr.tmp-*"))) == 1
    ticks: list[int] = []
    again = sweep_run.run_sweep(
        grid, output=out, block_points=BLOCK, progress=lambda done, total: ticks.append(done)
    )
    assert ticks[0] > 50  # finished blocks were not recomputed
    _same(api.sweep(grid), again.load())
    assert not list(tmp_path.glob("killed.zarr.tmp-*"))


def test_the_summary_read_in_blocks_matches_a_brute_force_ranking(grid: Path) -> None:
    ds = api.sweep(grid)
    s = sweep_summary(ds, top=7, block_points=BLOCK, count_ties=True)
    # the ranking: cost to 4 significant digits, then the lower TTFT, then grid order
    cost = ds["usd_per_mtok_total"].values.reshape(-1)
    ttft = ds["ttft_s"].values.reshape(-1)
    ok = (ds["feasible"] & (ds["slo_status"] != 1)).values.reshape(-1) & np.isfinite(cost)
    ranked = sorted(np.flatnonzero(ok), key=lambda i: (float(f"{cost[i]:.4g}"), ttft[i], i))
    expect = [np.unravel_index(i, ds["usd_per_mtok_total"].shape) for i in ranked[:7]]
    assert [r["index"] for r in s["cheapest"]] == [tuple(int(x) for x in e) for e in expect]
    assert s["passing"] == int(ok.sum()) and s["points"] == 1200
    assert s["ties"] == int((ok & (cost <= cost[ranked[0]] * 1.005)).sum()) - 1
    codes, counts = np.unique(ds["reason"].values, return_counts=True)
    assert s["reasons"] == dict(zip(codes.tolist(), counts.tolist(), strict=True))
    # a lazily opened store gives the same summary
    assert sweep_summary(ds.chunk(), top=7, block_points=BLOCK, count_ties=True) == s


def test_a_large_store_is_plotted_thinned_and_reported_from_every_point(
    grid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simplan import plots, report
    from simplan.plots import read

    out = tmp_path / "g.zarr"
    full = api.sweep(grid, output=out)
    monkeypatch.setattr(read, "MAX_PLOT_POINTS", 200)
    thin = plots.open_results(out)
    assert thin.sizes["rate_per_s"] < 25 and "of 1,200 points" in thin.attrs["thinned"]
    for d in ("replicas", "rate_per_s"):  # the ends of every axis are kept
        assert thin[d].values[0] == full[d].values[0]
        assert thin[d].values[-1] == full[d].values[-1]
    best = report.cheapest_point(plots.open_results(out, load=False))
    assert best is not None
    assert best["index"] == sweep_summary(full.load(), top=1)["cheapest"][0]["index"]
    html = report.write_report(out).read_text(encoding="utf-8")
    assert f"{sweep_summary(full, top=1)['passing']:,}" in html


def test_a_grid_beyond_the_limit_is_refused_by_check_and_sweep_naming_the_axis(
    grid: Path, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_text(
        GRID.replace("num = 25, log", "num = 100000, log").replace(
            '"hardware.pricing" = ["on_demand", "spot"]',
            '"hardware.pricing" = ["on_demand", "spot"]\n'
            '"hardware.price_usd_per_gpu_hour" = { start = 1, stop = 9, num = 100000 }',
        ),
        encoding="utf-8",
    )
    for cmd in (["check", str(huge)], ["sweep", str(huge), "-o", str(tmp_path / "h.zarr")]):
        result = CliRunner().invoke(main, cmd)
        assert result.exit_code == 2, result.output
        assert "480,000,000,000 grid points" in result.output
        assert "--max-points" in result.output and str(huge) in result.output
    assert not (tmp_path / "h.zarr").exists()


def test_a_grid_too_large_for_memory_is_sent_to_zarr(
    grid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feasibility, "MAX_IN_MEMORY_BYTES", 100_000)  # under 1,200 points
    with pytest.raises(SimplanError, match=r"write a fast sweep to a \.zarr store"):
        api.sweep(grid, output=tmp_path / "g.nc")
    assert not (tmp_path / "g.nc").exists()
    ds = api.sweep(grid, output=tmp_path / "g.zarr")  # streamed: allowed
    assert ds.sizes["rate_per_s"] == 25
    with pytest.raises(SimplanError, match="more than the 1,000 allowed"):
        api.sweep(grid, output=tmp_path / "g2.zarr", max_points=1000)


# --- simulate sweeps: several points per Dask task ------------------------------------


def test_simulate_batches_cover_every_point_once_and_keep_workers_busy() -> None:
    from simplan.sweep.simulate import _batches

    one_slice = _batches([()], 64, n_workers=2)  # a one-axis sweep: a single slice
    assert len(one_slice) == 8  # four tasks per worker, not one task for the whole sweep
    assert sorted(j for _, js in one_slice for j in js) == list(range(64))
    many = _batches([(i,) for i in range(40)], 3, n_workers=2)
    assert len(many) == 40  # enough slices: one task each
    assert sorted((t, j) for t, js in many for j in js) == [
        ((i,), j) for i in range(40) for j in range(3)
    ]


ONE_AXIS = """
name = "one-axis simulate sweep"
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[workload]
rate_per_s = 2.0
duration_s = 60
input_tokens = 500
output_tokens = 200
[simulation]
warmup_s = 10
[sweep]
"workload.rate_per_s" = [2.0, 4.0, 8.0, 16.0]
"""


def test_a_simulate_sweep_gives_the_same_numbers_on_one_worker_and_two(tmp_path: Path) -> None:
    p = tmp_path / "one.toml"
    p.write_text(ONE_AXIS, encoding="utf-8")
    one = api.sweep(p, method="simulate", workers=1)
    two = api.sweep(p, method="simulate", workers=2)
    assert np.isfinite(one["output_tokens_per_s"].values).all()
    _same(one, two)


def test_a_fast_sweep_on_dask_workers_equals_the_one_in_process(grid: Path, tmp_path: Path) -> None:
    here = sweep_run.run_sweep(grid, block_points=BLOCK)
    ticks: list[int] = []
    on_workers = sweep_run.run_sweep(
        grid,
        output=tmp_path / "w.zarr",
        workers=2,
        block_points=BLOCK,
        progress=lambda done, total: ticks.append(done),
    )
    assert len(ticks) == 24 and ticks[-1] == 1200
    _same(here, on_workers.load())
    in_memory = sweep_run.run_sweep(grid, workers=2, block_points=BLOCK)
    _same(here, in_memory)
