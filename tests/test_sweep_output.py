"""Sweep output paths: simplan never deletes or overwrites what it did not write."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from simplan import api
from simplan.cli import main
from simplan.errors import SimplanError
from simplan.sweep import run as sweep_run

SMALL = """
name = "output path sweep"
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
[simulation]
warmup_s = 10
[sweep]
"hardware.replicas" = [1, 2]
"workload.rate_per_s" = [5.0, 10.0]
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    p = tmp_path / "small.toml"
    p.write_text(SMALL, encoding="utf-8")
    return p


def _beside(path: Path) -> list[str]:
    """Everything in path's folder whose name starts with path's name (temporaries too)."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _no_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the output path must be checked before computing")

    monkeypatch.setattr(sweep_run, "prepare_fast", boom)
    monkeypatch.setattr(sweep_run, "run_simulate", boom)


def test_a_foreign_folder_at_the_zarr_path_survives_and_is_refused(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "my.zarr"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    _no_computation(monkeypatch)
    for method in ("fast", "simulate"):
        with pytest.raises(SimplanError) as info:
            api.sweep(small, method=method, output=out)
        assert info.value.source == str(out)
        assert "not a sweep store written by simplan" in str(info.value)
    code, output = _cli("sweep", str(small), "-o", str(out))
    assert code == 2
    assert str(out) in output and "choose another output path" in output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert _beside(out) == ["my.zarr"]  # nothing left beside it


def test_a_file_at_the_zarr_path_is_left_untouched(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.zarr"
    out.write_bytes(b"not a store")
    code, output = _cli("sweep", str(small), "-o", str(out))
    assert code == 2
    assert str(out) in output and "is a file" in output
    assert out.read_bytes() == b"not a store"
    assert _beside(out) == ["x.zarr"]


def test_a_zarr_store_simplan_did_not_write_is_refused(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "other.zarr"
    xr.Dataset({"a": ("x", [1.0, 2.0])}, attrs={"method": "fast"}).to_zarr(
        out, zarr_format=2, consolidated=False
    )
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(SimplanError, match="not a sweep store written by simplan"):
        api.sweep(small, output=out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert _beside(out) == ["other.zarr"]


def test_rerunning_into_the_same_zarr_resumes_and_leaves_no_temporaries(
    small: Path, tmp_path: Path
) -> None:
    # fast: a simplan store is replaced by the new one
    fast_out = tmp_path / "fast.zarr"
    first = api.sweep(small, output=fast_out)
    again = api.sweep(small, output=fast_out)
    stored = xr.open_zarr(fast_out, consolidated=False).load()
    assert stored.attrs["method"] == "fast"
    xr.testing.assert_equal(stored["usd_per_mtok_total"], first["usd_per_mtok_total"])
    xr.testing.assert_equal(again["usd_per_mtok_total"], first["usd_per_mtok_total"])
    assert _beside(fast_out) == ["fast.zarr"]
    # simulate: a finished store is resumed (nothing left to compute)
    out = tmp_path / "sim.zarr"
    api.sweep(small, method="simulate", output=out, workers=1)
    assert _beside(out) == ["sim.zarr"]
    calls: list[tuple[int, int]] = []
    api.sweep(
        small,
        method="simulate",
        output=out,
        workers=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == []  # every task was already done
    assert xr.open_zarr(out, consolidated=False)["task_done"].values.all()
    assert _beside(out) == ["sim.zarr"]
    assert not list(tmp_path.glob("*.tmp*"))


def test_nothing_is_left_beside_a_refused_path(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "refused.zarr"
    out.mkdir()
    (out / "data.bin").write_bytes(b"\x00\x01")
    for method in ("fast", "simulate"):
        code, output = _cli("sweep", str(small), "--method", method, "-o", str(out))
        assert code == 2, output
    assert sorted(os.listdir(tmp_path)) == ["refused.zarr", "small.toml"]
    assert sorted(os.listdir(out)) == ["data.bin"]


def test_netcdf_output_onto_a_folder_or_a_foreign_file_is_refused(
    small: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "grid.nc"
    folder.mkdir()
    (folder / "keep.txt").write_text("x", encoding="utf-8")
    code, output = _cli("sweep", str(small), "-o", str(folder))
    assert code == 2 and str(folder) in output and "is a folder" in output
    assert os.listdir(folder) == ["keep.txt"]
    foreign = tmp_path / "mine.nc"
    foreign.write_bytes(b"my own data")
    code, output = _cli("sweep", str(small), "-o", str(foreign))
    assert code == 2 and str(foreign) in output
    assert foreign.read_bytes() == b"my own data"
    # a sweep simplan wrote is replaced as before
    ours = tmp_path / "ours.nc"
    assert _cli("sweep", str(small), "-o", str(ours))[0] == 0
    assert _cli("sweep", str(small), "-o", str(ours))[0] == 0


def test_a_parent_that_is_a_file_is_a_clear_error(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "results"
    parent.write_text("a file", encoding="utf-8")
    _no_computation(monkeypatch)
    for name in ("out.zarr", "deeper/out.nc"):
        out = parent / name
        with pytest.raises(SimplanError, match="is a file, not a folder") as info:
            api.sweep(small, output=out)
        assert info.value.source == str(out) and str(parent) in str(info.value)
    assert parent.read_text(encoding="utf-8") == "a file"


def test_only_simplans_own_dead_temporaries_are_removed(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    stale = tmp_path / f"s.zarr.tmp-{pid}-abc"
    stale.mkdir()
    marker = {"pid": pid, "host": socket.gethostname(), "target": "s.zarr"}
    (stale / ".simplan-sweep-tmp").write_text(json.dumps(marker), encoding="utf-8")
    (stale / "store").mkdir()
    foreign = tmp_path / "s.zarr.tmp-1-user"  # looks like ours but has no marker
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep", encoding="utf-8")
    api.sweep(small, output=out)
    assert not stale.exists()
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep"
    assert _beside(out) == ["s.zarr", "s.zarr.tmp-1-user"]


def test_python_m_cli_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simplan.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert main.commands  # the click group's registered commands
    for name in main.commands:
        assert re.search(rf"^\s+{re.escape(name)}(\s|$)", result.stdout, re.MULTILINE), (
            name,
            result.stdout,
        )


def test_block_chunks_keep_trailing_axes_whole_and_split_leading_ones() -> None:
    from simplan.sweep import block_chunks

    assert block_chunks({"a": 20, "b": 10, "c": 3}) == {"a": 20, "b": 10, "c": 3}
    big = block_chunks({"rate": 2000, "replicas": 1000, "pricing": 3}, block=1 << 20)
    assert big == {"rate": 349, "replicas": 1000, "pricing": 3}
    assert big["rate"] * 1000 * 3 <= 1 << 20
    tall = block_chunks({"a": 10, "b": 4096, "c": 4096}, block=1 << 20)
    assert tall == {"a": 1, "b": 256, "c": 4096}


def test_a_fast_sweep_to_zarr_is_written_in_blocks_not_per_row(tmp_path: Path) -> None:
    scenario = tmp_path / "grid.toml"
    axes = ", ".join(str(1 + i) for i in range(30))
    base = SMALL.split("[sweep]")[0]
    scenario.write_text(
        base + f'[sweep]\n"workload.rate_per_s" = [{axes}]\n"hardware.replicas" = [1, 2, 4]\n'
    )
    ds = api.sweep(scenario, output=tmp_path / "g.zarr")
    stored = xr.open_zarr(tmp_path / "g.zarr", consolidated=False)
    assert stored["usd_per_mtok_total"].chunks == ((30,), (3,))  # one chunk, not 30
    np.testing.assert_array_equal(stored["reason"].values, ds["reason"].values)


def test_a_temporary_folder_left_unmarked_by_a_dead_process_is_removed_only_if_empty(
    tmp_path: Path,
) -> None:
    """Ctrl-C between creating the store's temporary folder and writing its marker left
    an empty, unmarked folder that no rerun removed; now an empty one named as simplan
    names them, from a dead process, is removed; anything with content is left alone."""
    from simplan.sweep.store import _remove_stale_temps

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "grid.zarr"
    empty = tmp_path / f"grid.zarr.tmp-{dead.pid}-abc"
    full = tmp_path / f"grid.zarr.tmp-{dead.pid}-def"
    empty.mkdir()
    full.mkdir()
    (full / "someone.txt").write_text("not simplan's", encoding="utf-8")
    _remove_stale_temps(out)
    assert not empty.exists()
    assert (full / "someone.txt").exists()
