"""Sweep output: Zarr stores and NetCDF files, written so nothing is lost.

simplan never deletes or overwrites a path it did not write: an existing output that is
not a sweep written by simplan is refused before any computation starts. A new ``.zarr``
store is built in a temporary folder beside the output (``<name>.tmp-<pid>-<random>``,
marked as simplan's by a file inside it) and renamed into place; ``.nc`` output is
written once, atomically.

A fast sweep fills its temporary store block by block and marks each block done, so a
rerun after a crash adopts the dead process's temporary store and computes only the
missing blocks. A simulate sweep's store sits at the output path from the start, one
task (a slice along the last axis) written and marked done at a time.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from simplan.dataset import BLOCK_DONE, TASK_DONE
from simplan.errors import SimplanError
from simplan.results import write_netcdf
from simplan.sweep.grid import FLAGS, VARIABLES, Axis
from simplan.tempfiles import check_output_folder, process_alive


def prepare_task_store(ds: xr.Dataset, path: Path, n_tasks: int) -> np.ndarray:
    """Create the store (or reuse a matching one) and return which tasks are done."""
    if path.exists() or path.is_symlink():
        old = _open_simplan_zarr(path)
        if old is None:
            raise _not_ours(path)
        with old:
            done = _done_flags(old, ds, TASK_DONE, n_tasks)
        if done is not None:
            return done
        raise SimplanError(
            "the output store holds a different sweep (scenario or method changed); "
            "choose another output path or delete it",
            source=str(path),
        )
    fresh = ds.assign({TASK_DONE: ("task", np.zeros(n_tasks, dtype=bool))})
    _remove_stale_temps(path)
    tmp = _make_temp(path)
    try:  # one chunk per task (size 1 along every axis but the last): each is written alone
        chunks = {str(d): 1 for d in ds["reason"].dims[:-1]}
        fresh.chunk(chunks).to_zarr(tmp / "store", mode="w-", zarr_format=2, consolidated=False)
        _move_into_place(tmp, path)
    finally:
        _discard_temp(tmp, path)
    return np.zeros(n_tasks, dtype=bool)


def _done_flags(store: xr.Dataset, template: xr.Dataset, var: str, n: int) -> np.ndarray | None:
    """Which parts (``var``: blocks or tasks) of ``store`` are done, if it holds the same
    sweep as ``template`` (same scenario, method and number of parts), else None."""
    same = (
        store.attrs.get("scenario_hash") == template.attrs["scenario_hash"]
        and store.attrs.get("method") == template.attrs["method"]
        and var in store
        and store[var].shape == (n,)
    )
    return store[var].values.astype(bool) if same else None


def _mark_done(store: Path, var: str, dim: str, i: int) -> None:
    """Set part ``i`` of the done flags ``var`` (after its values are written)."""
    flag = xr.Dataset({var: (dim, np.array([True]))})
    flag.to_zarr(store, region={dim: slice(i, i + 1)}, mode="r+", consolidated=False)


# --- output paths: never delete or overwrite what simplan did not write ----------------

#: Attributes every sweep simplan writes carries (see ``_empty_dataset``).
_SWEEP_ATTRS = ("scenario_hash", "method", "simplan_version")
#: The file that marks a temporary folder beside the output as simplan's own.
_TMP_MARKER = ".simplan-sweep-tmp"
_NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def _not_ours(path: Path) -> SimplanError:
    what = "a file" if path.is_file() else "a folder that is not a sweep store written by simplan"
    return SimplanError(
        f"the output path exists and is {what}; simplan never deletes or overwrites what it "
        "did not write: choose another output path",
        source=str(path),
    )


def _open_simplan_zarr(path: Path) -> xr.Dataset | None:
    """The Zarr sweep store at ``path`` if simplan wrote it (lazily opened), else None."""
    if not path.is_dir():
        return None
    try:
        ds = xr.open_zarr(path, consolidated=False)
    except Exception:
        return None
    if all(k in ds.attrs for k in _SWEEP_ATTRS):
        return ds
    ds.close()
    return None


def _is_simplan_netcdf(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return all(k in ds.attrs for k in _SWEEP_ATTRS)
    except Exception:
        return False


def check_output_path(path: str | Path) -> None:
    """Raise a SimplanError unless simplan may write a sweep to ``path``.

    Allowed: a path that does not exist (its folder may not exist yet), or one holding
    a sweep simplan wrote (a ``.zarr`` store is then resumed or replaced, a ``.nc`` file
    replaced). Refused: an unknown suffix, a parent that is a file, a ``.zarr`` path that
    is a file or a folder simplan did not write, a ``.nc`` path that is a folder or a
    file that is not a simplan sweep.
    """
    path = Path(path)
    if path.suffix != ".zarr" and path.suffix not in _NETCDF_SUFFIXES:
        raise SimplanError(
            f"unknown output format {path.suffix!r} (use .zarr or .nc)", source=str(path)
        )
    check_output_folder(path.parent, source=str(path), file_name=path.name)
    if not (path.exists() or path.is_symlink()):
        return
    if path.suffix == ".zarr":
        store = _open_simplan_zarr(path)
        if store is None:
            raise _not_ours(path)
        store.close()
    elif path.is_dir():
        raise SimplanError(
            "the output path exists and is a folder; a .nc output is a single file: "
            "choose another output path",
            source=str(path),
        )
    elif not _is_simplan_netcdf(path):
        raise SimplanError(
            "the output path exists and is not a sweep written by simplan; simplan never "
            "overwrites what it did not write: choose another output path",
            source=str(path),
        )


@functools.cache
def _warm_zarr() -> None:
    """Import everything a zarr write uses, once, before the temporary folder exists.

    xarray and zarr import their backends and codecs on first use; a Ctrl-C landing in
    one of those imports is reported by Python as an ignored exception with a traceback
    ("Exception ignored in ... _get_module_lock"), so the imports happen before there is
    anything to interrupt."""
    import zarr  # deferred (0.2 s): Zarr outputs only

    xr.Dataset({"x": ("d", np.zeros(2))}).chunk({"d": 1}).to_zarr(
        zarr.storage.MemoryStore(), mode="w-", zarr_format=2, consolidated=False
    )


def _make_temp(path: Path) -> Path:
    """A new folder beside ``path``, marked as simplan's; the store is built in ``store``."""
    _warm_zarr()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{path.name}.tmp-{os.getpid()}-", dir=path.parent))
    try:
        _claim_temp(tmp, path)
    except BaseException:  # Ctrl-C before the marker: the folder would be nobody's
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _temp_marker(tmp: Path, path: Path) -> dict[str, Any] | None:
    """The marker of a temporary folder simplan made for ``path``, else None."""
    if tmp.is_symlink() or not tmp.is_dir():
        return None
    try:
        marker = json.loads((tmp / _TMP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("target") != path.name:
        return None
    return marker


def _discard_temp(tmp: Path, path: Path) -> None:
    """Remove a temporary folder of simplan's; first put back a store moved aside into it."""
    if _temp_marker(tmp, path) is None:
        return
    old = tmp / "old"
    if (old.exists() or old.is_symlink()) and not (path.exists() or path.is_symlink()):
        old.rename(path)  # interrupted between moving the old store aside and the new in
    shutil.rmtree(tmp)


def _dead_temps(path: Path) -> list[Path]:
    """Temporaries that simplan made for ``path`` in processes (on this host) that died."""
    dead = []
    for sibling in sorted(path.parent.glob(glob.escape(path.name) + ".tmp-*")):
        marker = _temp_marker(sibling, path)
        if marker is None or marker.get("host") != socket.gethostname():
            continue
        pid = marker.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and not process_alive(pid):
            dead.append(sibling)
    return dead


def _remove_stale_temps(path: Path, keep: Path | None = None) -> None:
    """Remove temporaries that simplan made for ``path`` in processes that have died."""
    for sibling in _dead_temps(path):
        if sibling != keep:
            with contextlib.suppress(OSError):  # best effort: a leftover never blocks
                _discard_temp(sibling, path)
    # a process interrupted between creating its folder and marking it left it empty:
    # removing an empty folder named as simplan names them loses nothing
    prefix = f"{path.name}.tmp-"
    for sibling in path.parent.glob(glob.escape(prefix) + "*"):
        pid = sibling.name[len(prefix) :].split("-", 1)[0]
        if (
            sibling != keep
            and pid.isdigit()
            and int(pid) != os.getpid()
            and not sibling.is_symlink()
            and _temp_marker(sibling, path) is None
            and not process_alive(int(pid))
        ):
            with contextlib.suppress(OSError):
                sibling.rmdir()  # only if empty


# --- a fast sweep's store, filled block by block -------------------------------------


def finished_store(path: Path, template: xr.Dataset, n_blocks: int) -> bool:
    """Whether ``path`` already holds this sweep, complete (a rerun has nothing to do)."""
    store = _open_simplan_zarr(path)
    if store is None:
        return False
    with store:
        done = _done_flags(store, template, BLOCK_DONE, n_blocks)
    return done is not None and bool(done.all())


def open_block_store(template: xr.Dataset, path: Path, n_blocks: int) -> tuple[Path, np.ndarray]:
    """A temporary store for ``template``'s sweep and which of its blocks are done.

    The temporary store of a process that died while computing the same sweep is
    adopted (its finished blocks are kept); any other dead temporaries are removed.
    Returns the temporary folder (the store is its ``store``) and the done flags.
    """
    for tmp in _dead_temps(path):
        try:
            with xr.open_zarr(tmp / "store", consolidated=False) as old:
                done = _done_flags(old, template, BLOCK_DONE, n_blocks)
        except Exception:  # an unreadable leftover is not worth resuming
            continue
        if done is not None:
            _claim_temp(tmp, path)
            _remove_stale_temps(path, keep=tmp)
            return tmp, done
    _remove_stale_temps(path)
    tmp = _make_temp(path)
    fresh = template.assign({BLOCK_DONE: ("block", np.zeros(n_blocks, dtype=bool))})
    # metadata and the small variables now; the grid's blocks as they are computed
    fresh.to_zarr(tmp / "store", mode="w-", zarr_format=2, consolidated=False, compute=False)
    return tmp, np.zeros(n_blocks, dtype=bool)


def _claim_temp(tmp: Path, path: Path) -> None:
    """Mark an adopted temporary folder as this process's (so no one else removes it)."""
    marker = {"pid": os.getpid(), "host": socket.gethostname(), "target": path.name}
    (tmp / _TMP_MARKER).write_text(json.dumps(marker), encoding="utf-8")


def write_block(
    tmp: Path,
    b: int,
    region: tuple[slice, ...],
    values: dict[str, np.ndarray],
    dims: list[str],
) -> None:
    """Write one block's values into the temporary store, then mark the block done."""
    shape = tuple(r.stop - r.start for r in region)
    data: dict[str, Any] = {}
    for name, v in values.items():
        if v.ndim == 2:  # along ``api`` too
            data[name] = ((*dims, "api"), v.reshape((*shape, v.shape[1])))
        else:
            data[name] = (dims, v.reshape(shape))
    where: dict[str, slice] = dict(zip(dims, region, strict=True))
    if "api_monthly_cost_usd" in values:
        where["api"] = slice(0, values["api_monthly_cost_usd"].shape[1])
    xr.Dataset(data).to_zarr(tmp / "store", region=where, mode="r+", consolidated=False)
    _mark_done(tmp / "store", BLOCK_DONE, "block", b)


def abandon_block_store(tmp: Path, path: Path, *, resumable: bool) -> None:
    """After an interruption: keep a store with finished blocks (a rerun resumes it)."""
    if not resumable:  # otherwise its marker names this process: once it exits, a rerun adopts it
        _discard_temp(tmp, path)


def finish_block_store(tmp: Path, path: Path) -> None:
    """Consolidate the finished store's metadata and rename it into place."""
    import zarr  # deferred (0.2 s): Zarr outputs only

    try:
        zarr.consolidate_metadata(str(tmp / "store"), zarr_format=2)
        _move_into_place(tmp, path)
    finally:
        _discard_temp(tmp, path)


def _move_into_place(tmp: Path, path: Path) -> None:
    """Rename ``tmp/store`` to ``path``, first moving a simplan store there aside."""
    if path.exists() or path.is_symlink():
        old = _open_simplan_zarr(path)
        if old is None:
            raise _not_ours(path)
        old.close()
        path.rename(tmp / "old")  # deleted with the temporary folder
    (tmp / "store").rename(path)


def write_task(
    ds: xr.Dataset, path: Path, t: tuple[int, ...], task_index: int, axes: list[Axis]
) -> None:
    """Write one task's slice, then mark it done (so a crash in between redoes it)."""
    region = {a.name: slice(i, i + 1) for a, i in zip(axes[:-1], t, strict=True)}
    region[axes[-1].name] = slice(0, len(axes[-1].values))
    names = [*VARIABLES, *FLAGS]
    part = ds[names].isel(region)
    part = part.drop_vars([c for c in part.coords])
    part.to_zarr(path, region=region, mode="r+", consolidated=False)
    _mark_done(path, TASK_DONE, "task", task_index)


def write_netcdf_sweep(ds: xr.Dataset, path: Path) -> None:
    """Write a finished sweep held in memory to NetCDF, atomically.

    An existing output is replaced only if simplan wrote it (see :func:`check_output_path`);
    ``.zarr`` outputs are written as they are computed (:func:`write_block`,
    :func:`write_task`).
    """
    check_output_path(path)
    write_netcdf(path, ds.drop_vars(TASK_DONE, errors="ignore"))
