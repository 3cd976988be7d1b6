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

A multi-turn session's conversation is cached the same way, as an entry of its own: when
a turn finishes, its full blocks (prompt and answer) become the session's entry, the
next turn reuses them. Such an entry continues a shared prefix when the session's first
prompt reused one (its ``parent``): as in vLLM's hash chain, it is reachable only while
the parent is cached.
"""

from __future__ import annotations


class PrefixCache:
    """Cached prefix entries of one replica: blocks, references and recency."""

    def __init__(self) -> None:
        # prefix id -> [blocks, references, last use, parent id (-1: none)]
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

    def chain(self, entry: int) -> list[int]:
        """The entries a prompt continuing ``entry`` reuses, parent first: empty when it
        is not cached, or continues a parent that is not."""
        found = self._entries.get(entry)
        if found is None:
            return []
        parent = found[3]
        if parent < 0:
            return [entry]
        return [parent, entry] if parent in self._entries else []

    def parent_of(self, entry: int) -> int:
        """The entry ``entry`` continues (-1: none)."""
        return self._entries[entry][3]

    def evictable_except(self, entries: list[int]) -> int:
        """Evictable blocks if ``entries`` were referenced (an admission that hits them)."""
        out = self.evictable
        for prefix in entries:
            entry = self._entries[prefix]
            if entry[1] == 0:
                out -= entry[0]
        return out

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

    def insert(self, prefix: int, blocks: int, parent: int = -1, referenced: bool = True) -> None:
        """Cache ``blocks`` just computed for ``prefix`` (continuing ``parent``), referenced
        by the request that computed them or, for a finished turn, by nobody."""
        self._clock += 1
        self._entries[prefix] = [blocks, int(referenced), self._clock, parent]
        self.blocks += blocks
        if not referenced:
            self.evictable += blocks

    def take(self, prefix: int) -> int:
        """Remove an entry that only the caller references (a session's previous turn,
        whose blocks go into its next entry); return its blocks."""
        blocks, refs, _, _ = self._entries.pop(prefix)
        if refs != 1:  # a session sends one turn at a time
            raise RuntimeError(f"prefix cache entry {prefix} has {refs} users (a bug)")
        self.blocks -= blocks
        return blocks

    def drop(self, prefix: int) -> int:
        """Remove an unreferenced entry (superseded); return the blocks it frees."""
        blocks, refs, _, _ = self._entries.pop(prefix)
        if refs != 0:
            raise RuntimeError(f"prefix cache entry {prefix} is in use (a bug)")
        self.blocks -= blocks
        self.evictable -= blocks
        return blocks

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
