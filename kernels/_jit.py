"""The one place that decides how simplan's kernels are compiled.

Every kernel is decorated with :func:`kernel` (scalar, inlined into callers) or
:func:`vectorized` (loops over many configurations). ``cache=True`` keeps compiled code
on disk between runs; ``NUMBA_DISABLE_JIT=1`` runs the same code as plain Python.
"""

from __future__ import annotations

from numba import njit

kernel = njit(cache=True, fastmath=False, nogil=True)
"""Decorator for scalar kernels called from other kernels and from the simulator."""

vectorized = njit(cache=True, fastmath=False, nogil=True)
"""Decorator for kernels that loop over arrays of configurations."""
