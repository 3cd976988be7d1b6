"""Where compiled kernels are cached: a folder per kernel source hash, never beside the
installed package, so processes that start together (Dask workers) never delete each
other's cache files and a changed source never runs stale code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from simplan.kernels import _jit

COMPILE_ONE = """
import numpy as np
from simplan.kernels import layout as c
from simplan.kernels.memory import kv_bytes_per_token
from simplan.perf import replica_from_ids
print(kv_bytes_per_token(replica_from_ids("llama-3-8b", "h100-sxm").cfg))
"""


def _run(env: dict[str, str]) -> None:
    full = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    subprocess.run(
        [sys.executable, "-c", COMPILE_ONE], env={**full, **env}, check=True, timeout=120
    )


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="nothing is compiled")
def test_compiled_kernels_are_cached_under_a_folder_named_by_their_sources(tmp_path: Path) -> None:
    _run({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    folders = list((tmp_path / "xdg" / "simplan" / "numba").iterdir())
    assert [f.name for f in folders] == [_jit._sources_hash()]
    assert list(folders[0].rglob("*.nbi"))  # the index of a cached kernel

    _run({"NUMBA_CACHE_DIR": str(tmp_path / "mine")})  # the user's cache directory
    assert list((tmp_path / "mine" / "simplan" / _jit._sources_hash()).rglob("*.nbi"))

    _run({"XDG_CACHE_HOME": str(tmp_path / "off"), "SIMPLAN_NUMBA_CACHE": "0"})
    assert not (tmp_path / "off").exists()


def test_the_sources_hash_changes_with_any_kernel_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("roofline.py", "decode.py"):
        (tmp_path / name).write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(_jit, "_HERE", tmp_path)
    before = _jit._sources_hash()
    (tmp_path / "roofline.py").write_text("x = 2\n", encoding="utf-8")
    assert _jit._sources_hash() != before
