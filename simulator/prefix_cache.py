"""The KV blocks of shared prompt prefixes that one replica keeps for later requests.

vLLM's automatic prefix caching hashes every full KV block of a prompt, chained to the
blocks before it; a new request reuses the longest run of its leading blocks whose hashes
are cached, skipping their prefill, and shares them (reference-counted) instead of
holding a copy. Blocks no running request references stay cached and count as free: they
are evicted, least recently used first, only when an allocation needs them
(vllm/v1/core/kv_cache_manager.py and block_pool.py; docs/design/prefix_caching.md).

simplan's workloads share whole prefixes (``[workload] shared_prefix_tokens``), so an
entry here is one prefix's full blocks: it is inserted when the first request's prefill
has computed them, hit by later requests with the same prefix, and evicted whole. A
request whose prefix is not yet cached computes and holds its own copy (as concurrent
misses do in vLLM); only the first copy is kept.
"""

from __future__ import annotations


class PrefixCache:
    """Cached prefix entries of one replica: blocks, references and recency."""

    def __init__(self) -> None:
        # prefix id -> [blocks, references, last use]
        self._entries: dict[int, list[int]] = {}
        self.blocks = 0  # blocks the cache holds, referenced or not
        self.evictable = 0  # of those, blocks no running request references
        self._clock = 0

    def blocks_of(self, prefix: int) -> int:
        """Cached blocks of ``prefix`` (0 when it is not cached)."""
        entry = self._entries.get(prefix)
        return 0 if entry is None else entry[0]

    def holds(self, prefix: int) -> bool:
        """Whether ``prefix`` is cached (the router's affinity test)."""
        return prefix in self._entries

    def evictable_except(self, prefix: int) -> int:
        """Evictable blocks if ``prefix`` were referenced (an admission that hits it)."""
        entry = self._entries.get(prefix)
        if entry is not None and entry[1] == 0:
            return self.evictable - entry[0]
        return self.evictable

    def acquire(self, prefix: int) -> int:
        """Reference a cached prefix for a request; return its blocks."""
        entry = self._entries[prefix]
        if entry[1] == 0:
            self.evictable -= entry[0]
        entry[1] += 1
        self._clock += 1
        entry[2] = self._clock
        return entry[0]

    def release(self, prefix: int) -> None:
        """Drop a request's reference; an unreferenced entry becomes evictable."""
        entry = self._entries[prefix]
        entry[1] -= 1
        if entry[1] == 0:
            self.evictable += entry[0]
            self._clock += 1
            entry[2] = self._clock

    def insert(self, prefix: int, blocks: int) -> None:
        """Cache ``blocks`` just computed for ``prefix``, referenced by the request that
        computed them."""
        self._clock += 1
        self._entries[prefix] = [blocks, 1, self._clock]
        self.blocks += blocks

    def evict(self, need: int) -> int:
        """Free unreferenced entries, least recently used first, until ``need`` blocks are
        free or none is left; return the blocks freed."""
        freed = 0
        idle = sorted((e[2], p) for p, e in self._entries.items() if e[1] == 0)
        for _, prefix in idle:
            if freed >= need:
                break
            blocks = self._entries.pop(prefix)[0]
            self.blocks -= blocks
            self.evictable -= blocks
            freed += blocks
        return freed

    def clear(self) -> None:
        """Forget everything (the replica lost its memory: failure, interruption)."""
        self._entries.clear()
        self.blocks = 0
        self.evictable = 0
