"""The one place that decides how simplan's kernels are compiled.

Every kernel, scalar or looping over many configurations, is decorated with
:data:`kernel`. ``NUMBA_DISABLE_JIT=1`` runs the same code as plain Python.

Compiled code is cached on disk (compiling every kernel takes about 10 s, a cached start
well under one). Numba invalidates a cached function when its own file changes, but not
when a function it calls from another module changes, so a stale ``decode.py`` entry
would keep running an old ``roofline.py``. The cache therefore lives in a folder named by
a hash of every kernel source file, under the user's cache directory
(``$XDG_CACHE_HOME/simplan/numba/<hash>``, else ``~/.cache/...``): changed sources get a
fresh folder, and no process ever deletes a cache file another one may be reading (as
several Dask workers starting at once would). A ``NUMBA_CACHE_DIR`` set by the user
replaces the cache directory (the hash folder goes under it); ``SIMPLAN_NUMBA_CACHE=0``
turns caching off.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba import config, njit

_HERE = Path(__file__).resolve().parent


def _sources_hash() -> str:
    digest = hashlib.sha256()
    for src in sorted(_HERE.glob("*.py")):
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    return digest.hexdigest()[:16]


def _cache_enabled() -> bool:
    """Point numba's cache at a folder of this exact kernel source; False if caching is off."""
    if os.environ.get("SIMPLAN_NUMBA_CACHE", "1") == "0":
        return False
    user_root = os.environ.get("NUMBA_CACHE_DIR")
    if user_root:
        folder = Path(user_root) / "simplan" / _sources_hash()
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = root / "simplan" / "numba" / _sources_hash()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False  # no writable cache folder: compile in every process
    config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]
    return True


kernel = njit(cache=_cache_enabled(), fastmath=False, nogil=True)
"""Decorator of every compiled kernel."""
