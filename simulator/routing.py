"""Router policies, one function each, chosen by name in ``[engine] router``.

A policy gets the replicas that can serve the request and returns the one to use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count
from typing import Protocol


class Routable(Protocol):
    index: int

    def outstanding(self) -> int: ...

    def kv_load(self) -> float: ...

    def submit(self, req: int) -> None: ...


Policy = Callable[[Sequence[Routable]], Routable]


def round_robin() -> Policy:
    """Each request to the next replica in turn."""
    turn = count()

    def pick(replicas: Sequence[Routable]) -> Routable:
        return replicas[next(turn) % len(replicas)]

    return pick


def least_outstanding() -> Policy:
    """The replica with the fewest requests waiting or running (ties: lowest index)."""

    def pick(replicas: Sequence[Routable]) -> Routable:
        return min(replicas, key=lambda r: (r.outstanding(), r.index))

    return pick


def least_kv_load() -> Policy:
    """The replica whose KV cache (used plus queued demand) is the least full."""

    def pick(replicas: Sequence[Routable]) -> Routable:
        return min(replicas, key=lambda r: (r.kv_load(), r.index))

    return pick


POLICIES: dict[str, Callable[[], Policy]] = {
    "round_robin": round_robin,
    "least_outstanding": least_outstanding,
    "least_kv_load": least_kv_load,
}
