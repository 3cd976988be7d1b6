"""Under data-parallel attention TensorRT-LLM and vLLM cap each rank's sequences.

Each rank of a TensorRT-LLM replica takes up to its engine's maximum batch
(``_fetch_new_requests`` admits ``tp_size * max_num_active_requests`` over the group), and
each vLLM data-parallel rank is its own engine: a replica of n ranks runs up to
n x ``max_num_seqs`` sequences.
"""

from __future__ import annotations

from typing import Any

import pytest
from simplan.engine_knobs import engine_knobs
from simplan.recorder import COMPLETED
from simplan.scenario import scenario_from_dict
from simplan.sim import simulate


def _scenario(engine: dict[str, Any], tp: int = 2) -> Any:
    return scenario_from_dict(
        {
            "model": {"name": "qwen3-30b-a3b", "weights": "fp8"},
            "hardware": {"gpu": "h100-sxm", "tp": tp},
            "engine": engine,
            "workload": {
                "arrival": "offline",
                "num_requests": 24,
                "input_tokens": 64,
                "output_tokens": 64,
            },
        }
    )


@pytest.mark.parametrize(
    ("engine", "replica_cap"),
    [
        ({"name": "tensorrt-llm", "attention_dp": True}, 8 * 2048),
        ({"name": "vllm", "attention_dp": True, "max_num_seqs": 100}, 800),
        ({"name": "tensorrt-llm"}, 2048),
        ({"name": "sglang", "attention_dp": True}, 4096),
    ],
)
def test_a_replicas_cap_is_per_rank_under_attention_dp(
    engine: dict[str, Any], replica_cap: int
) -> None:
    sc = _scenario(engine, tp=8)
    assert engine_knobs(sc, "h100-sxm", tp=8).max_num_seqs == replica_cap


def _most_running(engine: dict[str, Any]) -> int:
    res = simulate(_scenario(engine))
    done = res.requests.column("status") == COMPLETED
    assert done.all()
    start = res.requests.column("scheduled_s")
    end = res.requests.column("finish_s")
    # the most requests between admission and finish at any admission time
    return max(int(((start <= t) & (end > t)).sum()) for t in start)


def test_two_ranks_run_twice_the_engines_batch() -> None:
    per_rank = {"name": "vllm", "max_num_seqs": 4}
    assert _most_running({**per_rank, "attention_dp": True}) == 8
    assert _most_running(per_rank) == 4
