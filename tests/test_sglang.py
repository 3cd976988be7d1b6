"""SGLang's engine preset (v0.5.5): its defaults, its memory rule, its admission with a
new-token ratio, and its retraction order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from simplan import catalog
from simplan.engine_knobs import sglang_memory
from simplan.errors import ScenarioError
from simplan.kernels import layout as c
from simplan.kernels.memory import kv_bytes_per_token, kv_capacity_tokens, weight_bytes_per_gpu
from simplan.metrics import summarize
from simplan.pools import build_pools
from simplan.recorder import COMPLETED
from simplan.scenario import scenario_from_dict
from simplan.scheduler import SGLANG_INIT_RATIO, SGLANG_MIN_RATIO
from simplan.sim import simulate


def tight_job(engine: dict[str, Any], num_requests: int = 200) -> dict[str, Any]:
    """An 8B model in FP16 on an L4: a few thousand tokens of KV for 300-token prompts
    and answers of 200-600 tokens, so admission and retraction decide the schedule."""
    return {
        "model": {"name": "llama-3.1-8b", "weights": "fp16"},
        "hardware": {"gpu": "l4"},
        "engine": engine,
        "workload": {
            "arrival": "offline",
            "num_requests": num_requests,
            "input_tokens": 300,
            "output_tokens": {"distribution": "uniform", "low": 200, "high": 600},
        },
    }


def test_the_preset_sets_sglangs_defaults_and_refuses_other_engines_knobs() -> None:
    eng = scenario_from_dict(tight_job({"name": "sglang"})).engine
    assert (eng.block_size, eng.max_num_seqs, eng.enable_prefix_caching) == (1, 4096, True)
    with pytest.raises(ScenarioError, match="mem_fraction_static"):
        scenario_from_dict(tight_job({"name": "sglang", "gpu_memory_utilization": 0.8}))
    with pytest.raises(ScenarioError, match="belongs to SGLang"):
        scenario_from_dict(tight_job({"mem_fraction_static": 0.8}))


@pytest.mark.parametrize(
    ("gpu", "tp", "chunk", "reserved_mib"),
    [
        # 512 + 1.5 x chunk + 2 x CUDA-graph batch + 1024 x tp / 8, at least 10 GiB over 60
        ("h100-sxm", 1, 8192, 512 + 8192 * 1.5 + 256 * 2 + 128),
        ("h100-sxm", 8, 8192, 512 + 8192 * 1.5 + 512 * 2 + 1024),
        ("l40s", 1, 4096, 512 + 4096 * 1.5 + 32 * 2 + 128),
        ("b200", 1, 16384, 512 + 16384 * 1.5 + 512 * 2 + 128),
    ],
)
def test_mem_fraction_static_follows_sglangs_formula(
    gpu: str, tp: int, chunk: int, reserved_mib: float
) -> None:
    mib = catalog.gpu(gpu).memory_gib * 1024
    if mib > 60 * 1024:
        reserved_mib = max(reserved_mib, 10 * 1024)
    assert sglang_memory(catalog.gpu(gpu).memory_gib, tp, 1, False, None) == (
        chunk,
        round((mib - reserved_mib) / mib, 3),
    )


def test_the_kv_pool_is_the_static_share_less_the_weights() -> None:
    sc = scenario_from_dict({**tight_job({"name": "sglang"}), "hardware": {"gpu": "h100-sxm"}})
    cfg = build_pools(sc)[0].replica.cfg
    share = build_pools(sc)[0].replica.engine.mem_fraction_static
    assert share is not None and 0.8 < share < 0.85
    # SGLang: rest_memory = available - total * (1 - share), total being what is free
    # before the weights load (all memory less the CUDA context)
    before_weights = cfg[c.MEM_BYTES] - cfg[c.RESERVE_FIXED_BYTES]
    pool = share * before_weights - weight_bytes_per_gpu(cfg)
    assert kv_capacity_tokens(cfg) == pytest.approx(pool / kv_bytes_per_token(cfg), abs=1.0)


def _reuse_engine(engine: dict[str, Any]) -> Any:
    res = simulate(scenario_from_dict(tight_job(engine, num_requests=2)))
    e = res.engines[0]
    assert e.n_running == 0 and not e.waiting  # the job is over; reuse the engine
    return e


def test_sglang_admits_only_what_its_whole_output_fits_beside_the_running_reservation() -> None:
    e = _reuse_engine({"name": "sglang"})
    rec = e.rec
    # request 0 runs with 100 tokens still to decode; request 1 (300-token prompt) waits
    e.slot_req[0], e.kv_tokens[0], e.kv.blocks[0] = 0, 400, 400
    e.prompt_left[0], e.decode_left[0], e.n_running = 0, 100, 1
    rec.generated[1] = 0
    prompt, out = int(rec.input_tokens[1]), int(rec.output_tokens[1])
    ratio_share = int(np.ceil(e.new_token_ratio * 100))
    e.kv.free_blocks = prompt + out + ratio_share + e.kv.watermark - 1  # one short
    e.waiting.append(1)
    e.admit(0.0)
    assert list(e.waiting) == [1] and e.n_running == 1
    e.kv.free_blocks += 1
    e.admit(0.0)
    assert not e.waiting and e.n_running == 2
    # it was given its prompt's blocks only: the output is a reservation, not an allocation
    slot = int(np.flatnonzero(e.slot_req == 1)[0])
    assert e.kv.blocks[slot] == prompt


def test_vllm_admits_the_same_request_on_its_prompt() -> None:
    e = _reuse_engine({})
    rec = e.rec
    e.slot_req[0], e.kv_tokens[0], e.kv.blocks[0] = 0, 400, 25
    e.prompt_left[0], e.decode_left[0], e.n_running = 0, 100, 1
    rec.generated[1] = 0
    e.kv.free_blocks = -(-int(rec.input_tokens[1]) // e.block) + e.kv.watermark + 1
    e.waiting.append(1)
    e.admit(0.0)
    assert not e.waiting and e.n_running == 2


def test_the_ratio_decays_with_decode_steps_and_resets_when_idle() -> None:
    e = _reuse_engine({"name": "sglang"})
    e.new_token_ratio = SGLANG_INIT_RATIO
    e.slot_req[0], e.decode_left[0], e.n_running = 0, 10_000, 1
    e.advance(np.array([0]), 300)
    assert e.new_token_ratio == pytest.approx((SGLANG_INIT_RATIO + SGLANG_MIN_RATIO) / 2)
    e.advance(np.array([0]), 1000)
    assert e.new_token_ratio == pytest.approx(SGLANG_MIN_RATIO)
    e.release(0)
    e.admit(0.0)  # nothing running: the scheduler is idle
    assert e.new_token_ratio == SGLANG_INIT_RATIO


def test_retraction_takes_the_fewest_output_tokens_and_raises_the_ratio() -> None:
    e = _reuse_engine({"name": "sglang"})
    rec = e.rec
    for slot, (req, done) in enumerate([(0, 50), (1, 5)]):
        e.slot_req[slot], e.prompt_left[slot], e.decode_left[slot] = req, 0, 100
        rec.generated[req] = done
    e.n_running = 2
    e.new_token_ratio = SGLANG_MIN_RATIO
    before = int(rec.preemptions[1])
    e.preempt()
    assert list(e.waiting) == [1] and int(rec.preemptions[1]) == before + 1
    assert e.slot_req[0] == 0 and e.slot_req[1] == -1
    assert e.new_token_ratio == pytest.approx(
        min(1.0, (50 + 20) / (float(rec.output_tokens[0]) + 1))
    )


def test_a_tight_cache_completes_every_request_under_sglangs_rules() -> None:
    res = simulate(scenario_from_dict(tight_job({"name": "sglang"})))
    s = summarize(res)
    assert np.all(res.requests.column("status") == COMPLETED)
    assert s["kv_cache_utilization"] > 0.5  # the cache really was the limit
    for e in res.engines:
        assert e.kv.free_blocks == e.total_blocks and e.n_running == 0
