"""Parameter sweeps: the product of a scenario's ``[sweep]`` axes, as an xarray Dataset.

Two evaluators:

* ``fast`` (:mod:`simplan.sweep.fast`): the compiled steady-state model over the grid, in
  blocks; capacities are computed once per distinct replica configuration;
* ``simulate`` (:mod:`simplan.sweep.simulate`): the discrete-event simulation at every
  grid point, run in parallel with Dask.

:mod:`simplan.sweep.grid` owns the axes, variables and reason codes;
:mod:`simplan.sweep.store` the output (never deleting what simplan did not write, and
resuming interrupted work); :mod:`simplan.sweep.run` ties them together.
"""

from simplan.sweep.fast import FastGrid, prepare_fast
from simplan.sweep.grid import (
    BLOCK_ELEMENTS,
    REASONS,
    VARIABLES,
    Axis,
    block_chunks,
    grid_blocks,
    sweep_axes,
)
from simplan.sweep.run import run_sweep
from simplan.sweep.simulate import simulate_point
from simplan.sweep.store import check_output_path

__all__ = [
    "BLOCK_ELEMENTS",
    "REASONS",
    "VARIABLES",
    "Axis",
    "FastGrid",
    "block_chunks",
    "check_output_path",
    "grid_blocks",
    "prepare_fast",
    "run_sweep",
    "simulate_point",
    "sweep_axes",
]
