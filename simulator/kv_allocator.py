"""One replica's paged KV cache: free blocks, the blocks each running slot holds, and the
cached prefixes (:mod:`simplan.prefix_cache`) that slots share.

vLLM's block manager, as the engine (:mod:`simplan.engine`) uses it:

* a replica has ``kv_capacity_tokens // block_size`` blocks; admission keeps 1% of them
  free as a watermark, so a just-admitted sequence is not preempted on its first decode;
* a slot holds its own blocks, plus a reference to the cached entries its prompt starts
  with (a shared prefix, a session's conversation): those blocks are held once, by the
  cache, however many slots reference them;
* cached blocks nobody references count as free, and are evicted (least recently used
  first) only when an allocation needs them.

A sequence of n tokens holds the blocks of ``kv_units(n)`` tokens: all n on models with
full attention everywhere, fewer where windowed layers keep only their window
(:func:`simplan.kernels.memory.kv_units`).

Invariant: ``free_blocks + blocks.sum() + cache.blocks == total_blocks``, and
``free_blocks >= 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels.memory import kv_capacity_tokens
from simplan.prefix_cache import PrefixCache


def kv_blocks(cfg: np.ndarray, block_size: int) -> tuple[int, int]:
    """(KV blocks a replica has, the free blocks its admission keeps as a watermark)."""
    total = int(kv_capacity_tokens(cfg) // block_size)
    return total, max(1, total // 100)


def _window(cfg: np.ndarray) -> dict[str, Any]:
    """The windowed layers' share and window of a replica (kernels' ``kv_units``)."""
    share = min(cfg[c.SWA_LAYERS], cfg[c.LAYERS]) / cfg[c.LAYERS]
    return {"window_share": float(share), "window_tokens": int(cfg[c.SWA_WINDOW_TOKENS])}


def ever_admissible(
    cfg: np.ndarray, tokens: int, block_size: int, total_blocks: int, watermark: int
) -> bool:
    """Whether a sequence of ``tokens`` fits an empty cache with the watermark to spare:
    if not, no replica of this kind can ever admit it (the router rejects it)."""
    empty = KVAllocator(
        total_blocks, watermark, block_size, 1, prefix_caching=False, **_window(cfg)
    )
    return empty.ever_admits(tokens)


class KVAllocator:
    """The KV blocks of one replica with ``slots`` sequence slots."""

    def __init__(
        self,
        total_blocks: int,
        watermark: int,
        block_size: int,
        slots: int,
        *,
        prefix_caching: bool,
        window_share: float = 0.0,
        window_tokens: int = 0,
    ) -> None:
        self.block = block_size
        # windowed layers' share and window (kv_units): 0 where every layer sees everything
        self.window_share, self.window_tokens = window_share, window_tokens
        self.total_blocks, self.watermark = total_blocks, watermark
        self.free_blocks = self.total_blocks  # neither held by a slot nor cached
        self.prefix_caching = prefix_caching
        self.cache = PrefixCache()
        self.blocks = np.zeros(slots, dtype=np.int64)  # blocks each slot holds alone
        self.shared = np.zeros(slots, dtype=np.int64)  # its leading blocks the cache holds
        self.slot_prefix = np.full(slots, -1, dtype=np.int64)  # cached shared prefix held
        self.slot_session = np.full(slots, -1, dtype=np.int64)  # cached conversation held

    @classmethod
    def for_replica(
        cls, cfg: np.ndarray, block_size: int, slots: int, *, prefix_caching: bool
    ) -> KVAllocator:
        """The cache of a replica with configuration vector ``cfg`` (:func:`kv_blocks`)."""
        total, watermark = kv_blocks(cfg, block_size)
        return cls(
            total, watermark, block_size, slots, prefix_caching=prefix_caching, **_window(cfg)
        )

    def _blocks(self, tokens: np.ndarray) -> np.ndarray:
        """Blocks that sequences of ``tokens`` tokens hold (kernels' ``kv_blocks_held``)."""
        if self.window_share <= 0.0:
            return -(-tokens // self.block)
        s, w = self.window_share, self.window_tokens
        units = (1.0 - s) * tokens + s * np.minimum(tokens, w)
        return np.ceil(units / self.block - 1e-9).astype(np.int64)

    # --- what the engine and the router ask ---------------------------------------------

    def blocks_for(self, tokens: int) -> int:
        """Blocks that hold a sequence of ``tokens`` tokens."""
        if self.window_share <= 0.0:  # the common case, in plain integers (hot path)
            return -(-tokens // self.block)
        return int(self._blocks(np.asarray(tokens)))

    def ever_admits(self, tokens: int) -> bool:
        """Whether a sequence of ``tokens`` could be admitted into this cache."""
        return self.blocks_for(tokens) + self.watermark <= self.total_blocks

    def used(self) -> int:
        """Blocks in use (cached blocks no request references count as free, as in
        vLLM's usage figure)."""
        return self.total_blocks - self.free_blocks - self.cache.evictable

    def allocatable(self) -> int:
        """Blocks an allocation can get: the free ones and the evictable cached ones."""
        return self.free_blocks + self.cache.evictable

    def holds(self, slots: np.ndarray) -> np.ndarray:
        """Blocks each of ``slots`` has, its own and the shared ones it references."""
        return self.blocks[slots] + self.shared[slots]

    def short(self, slots: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Blocks each of ``slots`` lacks to hold ``tokens`` tokens in all."""
        target = -(-tokens // self.block) if self.window_share <= 0.0 else self._blocks(tokens)
        return np.maximum(target - self.shared[slots] - self.blocks[slots], 0)

    # --- allocation ------------------------------------------------------------------

    def _take(self, blocks: int) -> None:
        """Allocate ``blocks`` (the caller checked they exist), evicting cached entries
        nobody references when the free ones do not suffice."""
        if blocks > self.free_blocks:
            self.free_blocks += self.cache.evict(blocks - self.free_blocks)
        self.free_blocks -= blocks

    def admit(self, slot: int, chain: list[int], session_entry: int, hit: int, blocks: int) -> None:
        """Give a newly admitted slot ``blocks`` of its own and references to the cached
        entries of ``chain`` (its first ``hit`` blocks)."""
        for e in chain:
            self.cache.acquire(e)
            held = self.slot_session if e == session_entry else self.slot_prefix
            held[slot] = e
        self._take(blocks)
        self.shared[slot] = hit
        self.blocks[slot] = blocks

    def grow(self, slots: np.ndarray, tokens: np.ndarray) -> bool:
        """Allocate so ``slots`` hold ``tokens`` tokens each; False (and nothing taken)
        if the cache cannot."""
        extra = self.short(slots, tokens)
        need = int(extra.sum())
        if need > self.allocatable():
            return False
        self.blocks[slots] += extra
        self._take(need)
        return True

    def grow_planned(self, slots: np.ndarray, tokens: np.ndarray, replica: int) -> None:
        """Allocate what a decode run planned (:func:`simplan.kernels.decode.decode_plan`
        plans only the steps whose blocks exist): running out is a bug, said so."""
        extra = self.short(slots, tokens)
        self.blocks[slots] += extra
        self._take(int(extra.sum()))
        if self.free_blocks < 0:
            raise RuntimeError(f"replica {replica}: KV blocks over capacity (a bug)")

    def release(self, slot: int) -> None:
        """Give back a slot's blocks: its own to the free pool, its references to the
        cache."""
        self.free_blocks += int(self.blocks[slot])
        for held in (self.slot_prefix, self.slot_session):
            if held[slot] >= 0:
                self.cache.release(int(held[slot]))
                held[slot] = -1
        self.blocks[slot] = 0
        self.shared[slot] = 0

    def clear(self) -> None:
        """Drop everything (a failed or interrupted replica loses its cache)."""
        self.blocks[:] = 0
        self.shared[:] = 0
        self.slot_prefix[:] = -1
        self.slot_session[:] = -1
        self.cache.clear()
        self.free_blocks = self.total_blocks

    # --- prefix caching ---------------------------------------------------------------

    def reusable(self, session_entry: int, prefix: int) -> list[int]:
        """The cached entries a prompt starts with, outermost first: the session's
        conversation (with the shared prefix it continues), else its shared prefix;
        empty without prefix caching."""
        if not self.prefix_caching:
            return []
        chain = self.cache.chain(session_entry) if session_entry >= 0 else []
        if chain:
            return chain
        return [prefix] if prefix >= 0 and self.cache.holds(prefix) else []

    def reused_blocks(self, chain: list[int], prompt_tokens: int) -> int:
        """Blocks of a ``prompt_tokens`` prompt served by the cached entries of ``chain``:
        the prompt's last token is always computed (it yields the first output token)."""
        if not chain:
            return 0
        return min(sum(self.cache.blocks_of(e) for e in chain), (prompt_tokens - 1) // self.block)

    def available_to(self, chain: list[int]) -> int:
        """Blocks an admission that reuses ``chain`` can take: the free ones and the
        evictable cached ones, except those it is about to reference."""
        return self.free_blocks + self.cache.evictable_except(chain)

    def holds_prefix(self, prefix: int) -> bool:
        """Whether shared prefix ``prefix`` is cached here (the router's affinity test)."""
        return self.prefix_caching and self.cache.holds(prefix)

    def cached_blocks(self) -> int:
        """Blocks the prefix cache holds, referenced or not."""
        return self.cache.blocks

    def cache_prefix(self, slot: int, prefix: int, prefix_tokens: int, tokens: int) -> None:
        """Cache a shared prefix a slot of ``tokens`` computed tokens has just finished,
        if no copy is cached yet (the slot's first blocks become the cache's)."""
        if prefix < 0 or self.slot_prefix[slot] >= 0 or self.cache.holds(prefix):
            return
        # with windowed layers a slot holds fewer blocks than its tokens fill: the cache
        # takes at most what the slot has (hits are then approximate, never over capacity)
        full = min(prefix_tokens // self.block, int(self.blocks[slot]))
        if full and tokens >= full * self.block:
            self.cache.insert(prefix, full)
            self.blocks[slot] -= full
            self.shared[slot] = full
            self.slot_prefix[slot] = prefix

    def keep_conversation(self, slot: int, entry: int, tokens: int) -> None:
        """Cache a finished turn's conversation (``tokens`` tokens) for the session's next
        turn: its full blocks beyond the shared prefix become the session's ``entry``
        (with the previous turn's, which it continues), referenced by nobody until the
        next turn."""
        old = 0
        if self.slot_session[slot] == entry:
            old = self.cache.take(entry)  # this turn reused it: its blocks carry over
            self.slot_session[slot] = -1
        elif self.cache.holds(entry):
            self.free_blocks += self.cache.drop(entry)  # unreachable (its parent was evicted)
        parent = int(self.slot_prefix[slot])
        below = self.cache.blocks_of(parent) if parent >= 0 else 0
        full = tokens // self.block
        keep = max(0, min(full - below - old, int(self.blocks[slot])))
        if old + keep > 0:
            self.cache.insert(entry, old + keep, parent=parent, referenced=False)
            self.blocks[slot] -= keep
