"""Prefix caching: hits skip prefill but hold KV once, LRU eviction, block conservation,
prefix-aware routing, the fast path's hits, and what the APIs' cached prices save."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from simplan.errors import ScenarioError
from simplan.fit import replica_cfg
from simplan.latency_model import ReplicaModel, column
from simplan.metrics import summarize
from simplan.prefix_cache import PrefixCache
from simplan.scenario import scenario_from_dict
from simplan.sim import SimResult, simulate


def scenario(engine: dict[str, Any] | None = None, **workload: Any) -> Any:
    return scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "h100-sxm", "replicas": workload.pop("replicas", 1)},
            "engine": engine or {},
            "workload": {"rate_per_s": 3.0, "num_requests": 1200, "output_tokens": 200} | workload,
            "pricing": {"apis": ["gpt-4o", "together-llama-3.1-8b"]},
            "simulation": {"seed": 11},
        }
    )


SHARED = {"shared_prefix_tokens": 3000, "num_shared_prefixes": 4, "input_tokens": 1000}


def conserved(res: SimResult) -> None:
    """Every KV block is free, cached, or held by one running sequence."""
    for e in res.engines:
        own = int(e.kv.blocks[e.slot_req >= 0].sum())
        assert own + e.kv.cache.blocks + e.kv.free_blocks == e.total_blocks
        assert 0 <= e.kv.cache.evictable <= e.kv.cache.blocks


def test_lru_evicts_the_least_recently_released_and_never_a_referenced_entry() -> None:
    cache = PrefixCache()
    cache.insert(1, 10)
    cache.insert(2, 20)
    cache.insert(3, 30)
    cache.release(2)  # released first: least recently used
    cache.release(1)
    assert cache.evictable == 30
    assert cache.evict(15) == 20  # prefix 2 goes; one entry suffices
    assert not cache.holds(2) and cache.holds(1) and cache.holds(3)
    assert cache.evict(1000) == 10  # 3 is referenced: only 1 can go
    assert cache.holds(3) and cache.blocks == 30 and cache.evictable == 0


def test_three_quarters_shared_gives_three_quarters_hits_and_faster_first_tokens() -> None:
    on = simulate(scenario(**SHARED))
    off = simulate(scenario({"enable_prefix_caching": False}, **SHARED))
    s_on, s_off = summarize(on), summarize(off)
    # 3,000 of 4,000 prompt tokens are shared; whole 16-token blocks (2,992) are reused,
    # and each prefix's first request misses
    assert s_on["prefix_cache_hit_rate"] == pytest.approx(2992 / 4000, abs=0.01)
    assert s_off["prefix_cache_hit_rate"] == 0.0
    assert s_on["ttft_s"]["p50"] < 0.5 * s_off["ttft_s"]["p50"]
    # the prefill FLOPs fall with the hits (the decode FLOPs are the same)
    flops = {k: float(r.series.array("flops")[-1].sum()) for k, r in (("on", on), ("off", off))}
    assert flops["on"] < 0.6 * flops["off"]
    conserved(on)


def test_caching_off_equals_the_same_prompts_without_a_shared_prefix() -> None:
    off = summarize(simulate(scenario({"enable_prefix_caching": False}, **SHARED)))
    plain = summarize(simulate(scenario(input_tokens=4000)))
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        assert off[key] == plain[key]
    assert off["output_tokens_per_s"] == plain["output_tokens_per_s"]


def test_many_long_prefixes_are_evicted_and_kv_stays_within_capacity() -> None:
    sc = scenario(
        shared_prefix_tokens=30_000,
        num_shared_prefixes=40,
        input_tokens=200,
        rate_per_s=2.0,
        num_requests=500,
    )
    res = simulate(sc)
    s = summarize(res)
    # 40 prefixes of 30k tokens do not fit 450k tokens of KV: misses, evictions
    assert 0.2 < s["prefix_cache_hit_rate"] < 0.9
    e = res.engines[0]
    used = res.series.array("kv_blocks_used")[:, 0]
    cached = res.series.array("kv_blocks_cached")[:, 0]
    assert used.max() <= e.total_blocks
    assert cached.max() <= e.total_blocks
    conserved(res)


def test_prefix_aware_routing_keeps_each_prefix_on_one_replica() -> None:
    base = SHARED | {"replicas": 4, "num_shared_prefixes": 4, "rate_per_s": 8.0}
    spread = summarize(simulate(scenario({"router": "least_outstanding"}, **base)))
    res = simulate(scenario({"router": "prefix_aware"}, **base))
    aware = summarize(res)
    # each replica caches the prefixes routed to it, not all four
    assert aware["prefix_cache_kv_share"] < spread["prefix_cache_kv_share"]
    assert aware["prefix_cache_hit_rate"] >= spread["prefix_cache_hit_rate"] - 0.01
    prefix, replica = res.requests.column("prefix_id"), res.requests.column("replica")
    owners = [len(np.unique(replica[prefix == p])) for p in range(4)]
    assert max(owners) <= 2  # a prefix moves only when the fleet is out of balance


def test_fast_path_sees_the_hits() -> None:
    sc = scenario(**SHARED)
    sim = summarize(simulate(sc))
    model = ReplicaModel.of(replica_cfg(sc)[0], sc)
    off = scenario({"enable_prefix_caching": False}, **SHARED)
    model_off = ReplicaModel.of(replica_cfg(off)[0], off)
    assert model.r_max_per_s > 1.5 * model_off.r_max_per_s  # prefill was most of the work
    op = model.at_rate(3.0)
    assert op[column("ttft_p95_s")] == pytest.approx(sim["ttft_s"]["p95"], rel=0.35)
    assert op[column("tpot_p95_s")] == pytest.approx(sim["tpot_s"]["p95"], rel=0.25)


def test_api_cached_prices_apply_to_the_shared_share() -> None:
    cached = summarize(simulate(scenario(**SHARED)))["api"]
    plain = summarize(simulate(scenario(input_tokens=4000)))["api"]
    # gpt-4o lists a cached-input price (half the list price): 75% of input at half price
    assert cached["gpt-4o"]["cached_input_share"] == pytest.approx(0.75)
    assert cached["gpt-4o"]["monthly_cost_usd"] < plain["gpt-4o"]["monthly_cost_usd"]
    ratio = cached["gpt-4o"]["usd_per_mtok_blended"] / plain["gpt-4o"]["usd_per_mtok_blended"]
    share = 4000 / 4200
    want = (share * (0.25 * 2.50 + 0.75 * 1.25) + (1 - share) * 10.0) / (
        share * 2.50 + (1 - share) * 10.0
    )
    assert ratio == pytest.approx(want, rel=1e-9)
    # an API without a cached price costs the same
    t = "together-llama-3.1-8b"
    assert cached[t]["monthly_cost_usd"] == pytest.approx(plain[t]["monthly_cost_usd"])


@pytest.mark.parametrize(
    ("workload", "where"),
    [
        ({"num_shared_prefixes": 3}, "shared_prefix_tokens"),
        (
            {"shared_prefix_tokens": 100, "num_shared_prefixes": 3, "shared_prefix_weights": [1]},
            "shared_prefix_weights",
        ),
    ],
)
def test_bad_prefix_settings_are_named(workload: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(**workload)
    assert where in str(info.value)


def test_every_api_figure_uses_the_cached_share() -> None:
    """Overflow, jobs and sweeps price input as the API comparison does, and a sweep
    over the prompt length prices each point at its own shared share."""
    from simplan import economics as econ
    from simplan.sweep.grid import api_costs_usd

    sc = scenario(**SHARED)
    gpt = next(a for a in econ.selected_apis(sc) if a.id == "gpt-4o")
    assert gpt.cached_input_share == pytest.approx(0.75)
    job = econ.api_job_cost_usd(gpt, 4e6, 1e6, batch=False)
    assert job == pytest.approx((4 * (0.25 * 2.50 + 0.75 * 1.25) + 10.0), rel=1e-12)
    monthly = econ.api_monthly_cost_usd(gpt, 5e6, 0.8)
    assert monthly == pytest.approx(job, rel=1e-12)  # the same tokens, the same price
    shares = np.array([0.0, 0.75])
    per_point = api_costs_usd([gpt], np.array([5e6, 5e6]), np.array([0.8, 0.8]), shares)
    assert per_point[1, 0] == pytest.approx(job, rel=1e-12)
    assert per_point[0, 0] == pytest.approx((4 * 2.50 + 10.0), rel=1e-12)
