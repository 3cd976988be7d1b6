"""What prefix caching saves a replica in the steady state, for the fast path.

The simulation caches prefixes block by block as requests arrive
(:mod:`simplan.prefix_cache`); the steady-state model needs two averages instead, which
go into the configuration vector (``PREFIX_HIT_TOKENS``, ``PREFIX_POOL_TOKENS``):

* the prompt tokens a request reuses: the shared prefix's full blocks, for requests
  whose prefix is cached;
* the KV the cached prefixes pin: one copy of each, shared by every request using it.

A prefix stays cached while the cache has room for it. Until a replica's KV cache runs
short, the running requests' own blocks leave the rest to cached prefixes, and LRU
eviction keeps the most popular ones. simplan assumes the prefixes, most popular first,
that fit in half of the KV cache stay resident, and that the others miss. Half is an
assumption; it leaves the other half to the running sequences' own blocks. With one
prefix or a few short ones everything fits and every request after the first hits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels.memory import kv_capacity_tokens

#: Share of the KV cache the steady-state model lets cached prefixes keep (see above).
RESIDENT_SHARE = 0.5


@dataclass(frozen=True)
class SharedPrefixes:
    """A workload's shared prefixes as the performance model needs them."""

    tokens: int
    weights: tuple[float, ...]  # popularity of each prefix, summing to 1


def fill_cfg(cfg: np.ndarray, prefixes: SharedPrefixes | None, block: int) -> None:
    """Set ``PREFIX_HIT_TOKENS`` and ``PREFIX_POOL_TOKENS`` (0 without prefix caching or
    shared prefixes); the memory slots of ``cfg`` must be set."""
    cfg[c.PREFIX_HIT_TOKENS] = 0.0
    cfg[c.PREFIX_POOL_TOKENS] = 0.0
    if prefixes is None:
        return
    full = (prefixes.tokens // block) * block  # only whole blocks are reused
    if full <= 0:
        return
    room = RESIDENT_SHARE * float(kv_capacity_tokens(cfg))
    popular = np.sort(np.asarray(prefixes.weights, dtype=float))[::-1]
    resident = min(int(room // full), popular.size)
    cfg[c.PREFIX_HIT_TOKENS] = full * float(popular[:resident].sum())
    cfg[c.PREFIX_POOL_TOKENS] = float(full * resident)
