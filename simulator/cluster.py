"""The Dask client that sweeps and verifications run on: a running scheduler, or a local
process cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A ``dask.distributed`` client for ``scheduler`` (an address), or for a local
    cluster of ``workers`` single-threaded processes (2 by default); closed on exit."""
    # deferred (0.3 s to import): only Dask sweeps pay for it
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # ":0": the scheduler's HTTP server on a free port. With None it still binds 8787, and
    # a second sweep on the same machine warned that the port was in use.
    cluster = LocalCluster(
        n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def worker_count(client: Any) -> int:
    """Threads the client's workers run in all (at least 1)."""
    return max(sum(client.nthreads().values()), 1)


@contextmanager
def optional_client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """:func:`dask_client` when a scheduler or a worker count is given, else None (the
    work runs in this process)."""
    if scheduler is None and workers is None:
        yield None
        return
    with dask_client(scheduler, workers) as client:
        yield client
