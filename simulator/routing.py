"""Router policies, one function each, chosen by name in ``[engine] router``.

A policy gets the replicas that can serve the request and the shared prefix its prompt
starts with (-1: none), and returns the replica to use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count
from typing import Protocol


class Routable(Protocol):
    index: int

    def outstanding(self) -> int: ...

    def kv_load(self) -> float: ...

    def holds_prefix(self, prefix: int) -> bool: ...

    def cached_blocks(self) -> int: ...

    def submit(self, req: int) -> None: ...


Policy = Callable[[Sequence[Routable], int], Routable]

#: Load imbalance beyond which the prefix-aware policy balances instead: the busiest
#: replica has more than BALANCE_ABS requests and BALANCE_REL times the idlest's more.
#: The defaults of the SGLang model gateway's cache_aware policy (lightseekorg/smg,
#: docs/getting-started/load-balancing.md: --balance-abs-threshold 64,
#: --balance-rel-threshold 1.5; read 2026-12-02).
BALANCE_ABS = 64
BALANCE_REL = 1.5


def round_robin() -> Policy:
    """Each request to the next replica in turn."""
    turn = count()

    def pick(replicas: Sequence[Routable], prefix: int = -1) -> Routable:
        return replicas[next(turn) % len(replicas)]

    return pick


def least_outstanding() -> Policy:
    """The replica with the fewest requests waiting or running (ties: lowest index)."""

    def pick(replicas: Sequence[Routable], prefix: int = -1) -> Routable:
        return min(replicas, key=lambda r: (r.outstanding(), r.index))

    return pick


def least_kv_load() -> Policy:
    """The replica whose KV cache (used plus queued demand) is the least full."""

    def pick(replicas: Sequence[Routable], prefix: int = -1) -> Routable:
        return min(replicas, key=lambda r: (r.kv_load(), r.index))

    return pick


def prefix_aware() -> Policy:
    """The least-loaded replica that has the request's prefix cached; a prefix cached
    nowhere goes to the replica caching least (the most room), and prompts without a
    shared prefix, or any request while the fleet is out of balance, to the least-loaded
    replica: the cache-aware routing of SGLang's gateway at whole-prefix granularity."""

    def pick(replicas: Sequence[Routable], prefix: int = -1) -> Routable:
        least = min(replicas, key=lambda r: (r.outstanding(), r.index))
        if prefix < 0:
            return least
        busiest = max(r.outstanding() for r in replicas)
        low = least.outstanding()
        if busiest - low > BALANCE_ABS and busiest > BALANCE_REL * low:
            return least
        holders = [r for r in replicas if r.holds_prefix(prefix)]
        if not holders:
            return min(replicas, key=lambda r: (r.cached_blocks(), r.outstanding(), r.index))
        return min(holders, key=lambda r: (r.outstanding(), r.index))

    return pick


POLICIES: dict[str, Callable[[], Policy]] = {
    "round_robin": round_robin,
    "least_outstanding": least_outstanding,
    "least_kv_load": least_kv_load,
    "prefix_aware": prefix_aware,
}
