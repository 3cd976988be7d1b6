"""Running a sweep: check the scenario, grid size and output path, then evaluate.

A fast sweep is evaluated in blocks of about :data:`~simplan.sweep.grid.BLOCK_ELEMENTS`
points. Written to ``.zarr``, each block goes to the store as soon as it is computed,
so memory is bounded by a block, not the grid, and an interrupted sweep resumes from its
finished blocks; the Dataset returned is the store, opened lazily. Otherwise the grid is
held in memory (refused beyond :data:`~simplan.feasibility.MAX_IN_MEMORY_BYTES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan.cluster import optional_client, worker_count
from simplan.dataset import BLOCK_DONE
from simplan.errors import ContextError, SimplanError
from simplan.feasibility import MAX_SWEEP_POINTS, check_sweep_size, check_workload
from simplan.scenario import Scenario, read_scenario_dict, scenario_from_dict
from simplan.sweep.fast import FastGrid, evaluate_range, fast_can_answer, prepare_fast
from simplan.sweep.grid import (
    BLOCK_ELEMENTS,
    FLAGS,
    VARIABLES,
    Axis,
    Block,
    block_chunks,
    bytes_per_point,
    empty_dataset,
    grid_blocks,
    sweep_axes,
)
from simplan.sweep.simulate import run_simulate
from simplan.sweep.store import (
    abandon_block_store,
    check_output_path,
    finish_block_store,
    finished_store,
    open_block_store,
    write_block,
    write_netcdf_sweep,
)
from simplan.sweep.verified import attach, attach_to_store, verify_cheapest
from simplan.verify import seeds_on

METHODS = ("fast", "simulate")


def run_sweep(
    path: str | Path,
    *,
    method: str = "fast",
    output: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_points: int = MAX_SWEEP_POINTS,
    block_points: int = BLOCK_ELEMENTS,
    verify: int = 0,
) -> xr.Dataset:
    """Evaluate a scenario's ``[sweep]`` grid (see :mod:`simplan.sweep`).

    ``block_points`` is the size of the blocks a fast sweep is computed and stored in
    (the memory it needs grows with it, about 400 bytes per point). ``verify`` simulates
    that many of a fast sweep's cheapest passing points (:mod:`simplan.sweep.verified`),
    their seeds in parallel on the Dask cluster when ``scheduler`` or ``workers`` is given.
    """
    raw = read_scenario_dict(path)
    scenario = scenario_from_dict(raw, source=str(path))
    if not scenario.sweep:
        raise SimplanError("the scenario has no [sweep] table", source=str(path))
    if method not in METHODS:
        raise SimplanError(f"unknown method {method!r} (allowed: {', '.join(METHODS)})")
    _check_workload(scenario)
    if method == "fast":
        fast_can_answer(scenario, str(path))
    if verify and method != "fast":
        raise SimplanError(
            "--verify checks a fast sweep's cheapest points by simulation; a simulate sweep "
            "has already simulated every point",
            source=str(path),
        )
    if verify < 0:
        raise SimplanError(f"--verify must be a whole number >= 0, not {verify}")
    if output is not None:
        check_output_path(output)  # before any computation: a bad output path fails fast
    axes = sweep_axes(scenario)
    zarr_out = output is not None and Path(output).suffix == ".zarr"
    check_sweep_size(
        {a.key: len(a.values) for a in axes},
        bytes_per_point=bytes_per_point(scenario),
        in_memory=not (zarr_out and method == "fast"),
        max_points=max_points,
        source=str(path),
    )
    text = Path(path).read_text(encoding="utf-8")
    if method == "fast":
        # one cluster (when asked for) evaluates the blocks and simulates the verification
        with optional_client(scheduler, workers) as client:
            return _run_fast(
                raw, axes, str(path), scenario, text, output, progress, block_points, client, verify
            )
    ds = empty_dataset(axes, scenario, text, method)
    return run_simulate(ds, raw, axes, str(path), scenario, output, scheduler, workers, progress)


def _check_workload(scenario: Scenario) -> None:
    """The check every command applies, on the file as written, before any point runs.

    Unreadable files fail the sweep; requests longer than the context fail it only when
    no axis could change that (a model or length axis is judged point by point).
    """
    try:
        check_workload(scenario)
    except ContextError:
        if not any(k.startswith(("model.", "workload.")) for k in scenario.sweep):
            raise


def _run_fast(
    raw: dict[str, Any],
    axes: list[Axis],
    source: str,
    scenario: Scenario,
    text: str,
    output: str | Path | None,
    progress: Callable[[int, int], None] | None,
    block_points: int,
    client: Any,
    verify: int = 0,
) -> xr.Dataset:
    dims = [a.name for a in axes]
    shape = tuple(len(a.values) for a in axes)
    total = math.prod(shape)
    chunks = block_chunks(dict(zip(dims, shape, strict=True)), block_points)
    blocks = grid_blocks(shape, tuple(chunks[d] for d in dims))
    out = Path(output) if output is not None else None
    if out is not None and out.suffix == ".zarr":
        template = empty_dataset(axes, scenario, text, "fast", chunks=chunks)
        if not finished_store(out, template, len(blocks)):
            grid = prepare_fast(raw, axes, source)
            tmp, done = open_block_store(template, out, len(blocks))
            finished = sum(b.stop - b.start for b, d in zip(blocks, done, strict=True) if d)
            todo = [i for i, d in enumerate(done) if not d]
            try:
                for i, values in _block_values(grid, blocks, todo, client):
                    write_block(tmp, i, blocks[i].region, values, dims)
                    done[i] = True
                    finished += blocks[i].stop - blocks[i].start
                    if progress is not None:
                        progress(finished, total)
            except BaseException:
                # finished blocks stay for a rerun to resume; with none, nothing stays
                abandon_block_store(tmp, out, resumable=bool(done.any()))
                raise
            finish_block_store(tmp, out)
        elif progress is not None:
            progress(total, total)
        if verify:
            done_ds = xr.open_zarr(out, consolidated=True).drop_vars(BLOCK_DONE)
            with seeds_on(client):
                records = verify_cheapest(done_ds, raw, axes, source, verify)
            attach_to_store(out, records)
        return xr.open_zarr(out, consolidated=True).drop_vars(BLOCK_DONE)
    ds = empty_dataset(axes, scenario, text, "fast")
    grid = prepare_fast(raw, axes, source)
    flat: dict[str, np.ndarray] = {n: ds[n].values.reshape(-1) for n in (*VARIABLES, *FLAGS)}
    for name in ("api_monthly_cost_usd", "api_rate_limit_use"):
        if name in ds:  # along ``api`` too
            flat[name] = ds[name].values.reshape(-1, ds.sizes["api"])
    finished = 0
    for i, values in _block_values(grid, blocks, list(range(len(blocks))), client):
        block = blocks[i]
        for name, part in values.items():
            flat[name][block.start : block.stop] = part
        finished += block.stop - block.start
        if progress is not None:
            progress(finished, total)
    if verify:
        with seeds_on(client):
            attach(ds, verify_cheapest(ds, raw, axes, source, verify))
    if out is not None:
        write_netcdf_sweep(ds, out)
    return ds


def _block_values(
    grid: FastGrid,
    blocks: list[Block],
    todo: list[int],
    client: Any,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Each block's values, in this process, or on the Dask ``client``'s workers (blocks
    come back as they finish; at most two per worker are in flight, so the client holds a
    bounded number)."""
    if not todo:
        return
    if client is None:
        for i in todo:
            yield i, grid.evaluate(blocks[i].start, blocks[i].stop)
        return
    from dask.distributed import as_completed  # deferred (0.3 s): Dask runs only

    remote = client.scatter(grid, broadcast=True)
    waiting = iter(todo)
    running: dict[Any, int] = {}

    def submit() -> Any:
        for i in waiting:
            b = blocks[i]
            fut = client.submit(evaluate_range, remote, b.start, b.stop, pure=False)
            running[fut] = i
            return fut
        return None

    first = (submit() for _ in range(2 * worker_count(client)))
    queue = as_completed([f for f in first if f is not None])
    for fut in queue:
        i = running.pop(fut)
        values = fut.result()
        nxt = submit()
        if nxt is not None:
            queue.add(nxt)
        yield i, values
