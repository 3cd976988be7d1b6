"""The one place that decides how simplan's kernels are compiled.

Every kernel is decorated with :data:`kernel` (scalar, called from other kernels and from
the simulator) or :data:`vectorized` (loops over many configurations). ``cache=True``
keeps compiled code on disk between runs; ``NUMBA_DISABLE_JIT=1`` runs the same code as
plain Python.

Numba invalidates a cached function when its own file changes, but not when a function
it calls from another module changes, so a stale ``decode.py`` entry would keep running
an old ``roofline.py``. :func:`_drop_stale_cache` stamps the cache folder with a hash of
every kernel source file and clears it when any of them differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba import njit

_HERE = Path(__file__).resolve().parent


def _drop_stale_cache() -> None:
    digest = hashlib.sha256()
    for src in sorted(_HERE.glob("*.py")):
        digest.update(src.name.encode())
        digest.update(src.read_bytes())
    stamp = digest.hexdigest()
    cache_dir = _HERE / "__pycache__"
    stamp_file = cache_dir / "simplan_kernels.stamp"
    try:
        if stamp_file.read_text() == stamp:
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for f in (*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")):
            f.unlink(missing_ok=True)
        stamp_file.write_text(stamp)
    except OSError:
        pass  # a read-only install: numba falls back to its own cache location


_drop_stale_cache()

kernel = njit(cache=True, fastmath=False, nogil=True)
"""Decorator for scalar kernels called from other kernels and from the simulator."""

vectorized = njit(cache=True, fastmath=False, nogil=True)
"""Decorator for kernels that loop over arrays of configurations."""
