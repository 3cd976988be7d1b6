"""Multi-turn sessions: each turn's prompt is the conversation so far plus new tokens,
sent after the previous answer; the prefix cache keeps the conversation between turns;
sessions stop at the model's context."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from simplan import economics as econ
from simplan.metrics import summarize
from simplan.recorder import COMPLETED
from simplan.scenario import scenario_from_dict
from simplan.sessions import turn_moments
from simplan.sim import SimResult, simulate
from simplan.workload import mean_lengths


def scenario(engine: dict[str, Any] | None = None, **sessions: Any) -> Any:
    return scenario_from_dict(
        {
            "model": {"name": "llama-3.1-8b"},
            "hardware": {"gpu": "h100-sxm", "replicas": 2},
            "engine": engine or {"router": "prefix_aware"},
            "workload": {
                "rate_per_s": 4.0,
                "duration_s": 200,
                "shared_prefix_tokens": 1000,
                "input_tokens": 200,
                "output_tokens": 150,
                "sessions": {"turns": 6, "turn_input_tokens": 100, "think_time_s": 5.0} | sessions,
            },
            "pricing": {"apis": ["gpt-4o"]},
            "simulation": {"seed": 4},
        }
    )


def turns_by_session(res: SimResult) -> dict[int, np.ndarray]:
    entry = res.requests.column("session_entry")
    order = np.argsort(res.requests.column("arrival_s"), kind="stable")
    return {int(e): order[entry[order] == e] for e in np.unique(entry)}


def test_each_turn_repeats_the_conversation_and_follows_the_answer() -> None:
    res = simulate(scenario())
    r = res.requests
    prompt, out = r.column("input_tokens"), r.column("output_tokens")
    arrival, finish = r.column("arrival_s"), r.column("finish_s")
    sessions = turns_by_session(res)
    assert len(sessions) > 50
    for reqs in sessions.values():
        assert prompt[reqs[0]] == 1000 + 200  # shared prefix, then the first message
        for a, b in itertools.pairwise(reqs):
            assert prompt[b] == prompt[a] + out[a] + 100  # history, answer, new message
            assert arrival[b] >= finish[a]  # sent after the answer
        assert len(reqs) <= 6


def test_later_turns_reuse_the_conversation_from_the_cache() -> None:
    res = simulate(scenario())
    r = res.requests
    cached, prompt = r.column("cached_tokens"), r.column("input_tokens")
    done = r.column("status") == COMPLETED
    firsts = [reqs[0] for reqs in turns_by_session(res).values()]
    later = np.setdiff1d(np.flatnonzero(done), firsts)
    # a later turn reuses everything but the new message and a partial block
    reused = cached[later] / prompt[later]
    assert np.median(reused) > 0.9
    s = summarize(res)
    assert s["prefix_cache_hit_rate"] > 0.8
    assert s["sessions"] == len(firsts)
    off = summarize(simulate(scenario({"enable_prefix_caching": False})))
    assert off["prefix_cache_hit_rate"] == 0.0
    assert s["ttft_s"]["p50"] < 0.5 * off["ttft_s"]["p50"]
    for e in res.engines:  # every block free, cached or held by one running sequence
        own = int(e.kv.blocks[e.slot_req >= 0].sum())
        assert own + e.kv.cache.blocks + e.kv.free_blocks == e.total_blocks


def test_sessions_stop_at_the_context() -> None:
    res = simulate(
        scenario(turns=60, turn_input_tokens=5000, think_time_s=0.5).model_copy(deep=True)
    )
    r = res.requests
    assert (r.column("input_tokens") + r.column("output_tokens")).max() <= 131_072
    longest = max(len(v) for v in turns_by_session(res).values())
    assert 20 < longest < 60  # cut at about 131k / 5.25k turns


def test_mean_prompt_and_the_apis_cached_share_follow_the_turns() -> None:
    sc = scenario()
    m1, m2, _ = turn_moments(sc)
    assert (m1, m2) == (6, 15)  # E[T], E[T(T-1)/2]
    prompt, answer = mean_lengths(sc)
    assert answer == 150
    assert prompt == pytest.approx(1200 + 250 * 15 / 6)
    # first turns repeat the shared prefix; later ones the whole conversation before them
    reused = (5 * (1200 + 150) + 250 * 10) / 6  # sum over turns 2..6 of what they repeat
    want = (1000 / 6 + reused) / prompt
    assert econ.cached_input_share(sc) == pytest.approx(want)
    measured = simulate(sc).requests
    assert measured.column("input_tokens").mean() == pytest.approx(prompt, rel=0.05)
