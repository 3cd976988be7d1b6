"""A closed loop whose users share one sender (``workload.client_send_s``).

A benchmark client whose users are threads of one Python process sends one request at a
time: the requests reach the engine in turn, and an engine that starts an iteration as
soon as anything is queued takes the first one alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from simplan.metrics import request_table
from simplan.scenario import scenario_from_dict
from simplan.sim import SimResult, simulate


def _closed(users: int, requests: int, send_s: float, **lengths: int) -> SimResult:
    workload: dict[str, Any] = {
        "arrival": "closed",
        "concurrency": users,
        "num_requests": requests,
        "client_send_s": send_s,
        "input_tokens": lengths.get("input_tokens", 128),
        "output_tokens": lengths.get("output_tokens", 16),
    }
    return simulate(
        scenario_from_dict(
            {
                "model": {"name": "llama-2-7b"},
                "hardware": {"gpu": "a100-sxm4-80gb"},
                "engine": {"name": "vllm", "chunked_prefill": False},
                "workload": workload,
            }
        )
    )


def test_users_send_their_first_requests_in_turn() -> None:
    res = _closed(users=4, requests=4, send_s=0.25)
    arrivals = np.sort(res.requests.column("arrival_s"))
    np.testing.assert_allclose(arrivals, [0.25, 0.5, 0.75, 1.0], rtol=0, atol=1e-12)


def test_without_a_send_time_every_user_sends_at_once() -> None:
    res = _closed(users=4, requests=8, send_s=0.0)
    assert int((res.requests.column("arrival_s") == 0.0).sum()) == 4


def test_no_two_requests_leave_the_sender_closer_than_its_send_time() -> None:
    # 8 users, 5 requests each: the rounds finish together and are re-sent in turn
    send_s = 0.003
    res = _closed(users=8, requests=40, send_s=send_s)
    arrivals = np.sort(res.requests.column("arrival_s"))
    assert arrivals.size == 40
    assert np.diff(arrivals).min() >= send_s - 1e-12
    # and a user sends its next request only once the last one has finished
    finish = np.sort(res.requests.column("finish_s"))
    assert arrivals[8] >= finish[0] + send_s - 1e-12


def test_the_engine_takes_the_first_request_alone() -> None:
    # Sent microseconds apart, 16 prompts reach an idle engine one after another: the
    # first is prefilled by itself, as one user's would be, and the others wait for that
    # iteration; sent at once, all 16 share one prefill.
    alone = request_table(_closed(users=1, requests=1, send_s=0.0))["ttft_s"][0]
    run = _closed(users=16, requests=16, send_s=1e-6)
    staggered = request_table(run)
    together = request_table(_closed(users=16, requests=16, send_s=0.0))
    first = int(np.argmin(run.requests.column("arrival_s")))
    assert staggered["ttft_s"][first] == pytest.approx(alone, rel=1e-9)
    others = np.delete(staggered["ttft_s"], first)
    assert others.min() > alone
    assert np.ptp(together["ttft_s"]) == pytest.approx(0.0, abs=1e-12)
    assert together["ttft_s"].min() > alone


def test_no_request_is_sent_after_the_run_ends() -> None:
    # 8 users queue on a 0.3 s sender in a 1 s run: three requests get out in time
    sc = scenario_from_dict(
        {
            "model": {"name": "llama-2-7b"},
            "hardware": {"gpu": "a100-sxm4-80gb"},
            "workload": {
                "arrival": "closed",
                "concurrency": 8,
                "duration_s": 1.0,
                "client_send_s": 0.3,
                "input_tokens": 128,
                "output_tokens": 16,
            },
        }
    )
    arrivals = simulate(sc).requests.column("arrival_s")
    np.testing.assert_allclose(np.sort(arrivals), [0.3, 0.6, 0.9], rtol=0, atol=1e-12)
