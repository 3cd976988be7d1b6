"""The KV-block allocator on its own, with exact block counts: allocation, growth,
release, cached prefixes that count as free and are evicted only when needed."""

from __future__ import annotations

import numpy as np
import pytest
from simplan.kv_allocator import KVAllocator, ever_admissible, kv_blocks
from simplan.perf import replica_from_ids

BLOCK = 16


def allocator(total: int = 100, watermark: int = 1, caching: bool = True) -> KVAllocator:
    return KVAllocator(total, watermark, BLOCK, 4, prefix_caching=caching)


def conserved(kv: KVAllocator) -> bool:
    """Every block is free, held by one slot, or held once by the cache."""
    return kv.free_blocks + int(kv.blocks.sum()) + kv.cache.blocks == kv.total_blocks


def test_a_replicas_blocks_come_from_its_kv_capacity_with_a_one_percent_watermark() -> None:
    cfg = replica_from_ids("llama-3.1-8b", "a100-sxm4-80gb").cfg
    total, watermark = kv_blocks(cfg, BLOCK)
    kv = KVAllocator.for_replica(cfg, BLOCK, 8, prefix_caching=False)
    assert (kv.total_blocks, kv.watermark) == (total, watermark) == (total, total // 100)
    assert total > 1000  # tens of GiB of KV for an 8B model on 80 GB


def test_admissible_means_the_blocks_plus_the_watermark_fit_an_empty_cache() -> None:
    cfg = replica_from_ids("llama-3.1-8b", "a100-sxm4-80gb").cfg
    assert ever_admissible(cfg, 99 * BLOCK, BLOCK, 100, 1)
    assert not ever_admissible(cfg, 99 * BLOCK + 1, BLOCK, 100, 1)  # 100 blocks + 1 > 100
    assert allocator().ever_admits(99 * BLOCK) and not allocator().ever_admits(100 * BLOCK)


def test_growth_takes_only_the_missing_blocks_and_release_gives_them_back() -> None:
    kv = allocator()
    kv.admit(0, [], -1, 0, kv.blocks_for(20))  # 20 tokens: 2 blocks
    assert (kv.free_blocks, int(kv.blocks[0])) == (98, 2)
    slots = np.array([0])
    assert kv.grow(slots, np.array([32]))  # still two blocks
    assert kv.free_blocks == 98
    assert kv.grow(slots, np.array([33]))  # the 33rd token opens a third
    assert (kv.free_blocks, int(kv.blocks[0]), kv.used()) == (97, 3, 3)
    kv.release(0)
    assert kv.free_blocks == 100 and kv.blocks[0] == 0 and conserved(kv)


def test_growth_that_does_not_fit_takes_nothing() -> None:
    kv = allocator(total=10)
    kv.admit(0, [], -1, 0, 9)
    assert not kv.grow(np.array([0]), np.array([11 * BLOCK]))  # needs 2, 1 left
    assert kv.free_blocks == 1 and kv.blocks[0] == 9
    with pytest.raises(RuntimeError, match="over capacity"):
        kv.grow_planned(np.array([0]), np.array([11 * BLOCK]), replica=3)


def test_a_cached_prefix_is_held_once_counts_as_free_and_is_evicted_last_resort() -> None:
    kv = allocator(total=20)
    prefix_tokens = 4 * BLOCK
    kv.admit(0, [], -1, 0, 6)  # computes the prefix and 2 blocks of its own
    kv.cache_prefix(0, prefix=7, prefix_tokens=prefix_tokens, tokens=6 * BLOCK)
    assert (int(kv.blocks[0]), int(kv.shared[0]), kv.cache.blocks) == (2, 4, 4)
    # a second request reuses the prefix: 4 shared blocks, only its own 2 are new
    assert kv.reusable(-1, 7) == [7]
    kv.admit(1, [7], -1, 4, 2)
    assert kv.free_blocks == 20 - 6 - 2 and conserved(kv)
    kv.release(0)
    kv.release(1)
    # unreferenced: still cached, but counted as free
    assert kv.cache.blocks == 4 and kv.used() == 0 and kv.allocatable() == 20
    # an allocation the free blocks cover leaves it cached; one they do not evicts it
    kv.admit(2, [], -1, 0, 16)
    assert kv.cache.holds(7) and kv.free_blocks == 0
    kv.admit(3, [], -1, 0, 1)
    assert not kv.cache.holds(7) and kv.free_blocks == 3 and conserved(kv)


def test_without_prefix_caching_nothing_is_reused() -> None:
    kv = allocator(caching=False)
    assert kv.reusable(-1, 7) == [] and kv.reusable(3, -1) == []


def test_a_finished_turn_keeps_its_full_blocks_beyond_the_shared_prefix() -> None:
    kv = allocator(total=50)
    kv.admit(0, [], 11, 0, 10)
    kv.cache_prefix(0, prefix=7, prefix_tokens=4 * BLOCK, tokens=10 * BLOCK)
    # 9.5 blocks of conversation: 9 full, 4 of them the shared prefix, 5 kept for the turn
    kv.keep_conversation(0, entry=11, tokens=9 * BLOCK + BLOCK // 2)
    assert kv.cache.blocks_of(11) == 5 and kv.cache.parent_of(11) == 7
    kv.release(0)
    assert kv.free_blocks == 50 - 9 and conserved(kv)
    assert kv.reusable(11, 7) == [7, 11]  # the next turn reuses prefix and conversation


def test_windowed_layers_hold_only_their_window() -> None:
    # half the layers keep at most 128 tokens: a 4,096-token sequence holds the blocks of
    # 0.5 * 4096 + 0.5 * 128 = 2,112 tokens (132 blocks of 16), not 256 blocks
    kv = KVAllocator(1000, 1, BLOCK, 4, prefix_caching=False, window_share=0.5, window_tokens=128)
    assert kv.blocks_for(4096) == 132
    assert kv.blocks_for(100) == 7  # inside the window every layer keeps every token
    kv.admit(0, [], -1, 0, kv.blocks_for(4096))
    # growing past the window adds half a token of KV per token
    assert int(kv.short(np.array([0]), np.array([4096 + 32]))[0]) == 1
    assert kv.grow(np.array([0]), np.array([4096 + 32])) and conserved(kv)
    assert kv.ever_admits(900 * BLOCK * 2 - 128) and not kv.ever_admits(2000 * BLOCK)
