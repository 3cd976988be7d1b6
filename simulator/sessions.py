"""Multi-turn sessions (``[workload.sessions]``): one simpy process per conversation or
agent loop, and the per-request averages the fast path and the economics need.

A session starts when the workload's arrival process says (at ``rate_per_s`` divided by
the mean number of turns, so that ``rate_per_s`` still counts requests). Its first prompt
is the workload's own: any shared prefix, then ``input_tokens``. Every later prompt is
the conversation so far (each earlier prompt and answer, hidden reasoning included)
plus ``turn_input_tokens`` of new user or tool tokens. A turn is sent an exponential
``think_time_s`` after the previous answer finished. A session ends after its turns, when
a turn is rejected, or when the next prompt and its answer would not fit the model's
context: the client stops there, as one that does not truncate its history would.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simplan.arrivals import ARRIVALS
from simplan.recorder import COMPLETED
from simplan.scenario import Scenario
from simplan.workload import length_mean, sample_generated, sample_lengths, sample_prefixes

if TYPE_CHECKING:
    from simplan.clients import Client
    from simplan.scenario import Scenario, WorkloadSection

#: Draws behind the averages (fixed seed: the same figures every time).
_DRAWS = 20_000
_SEED = 20261203


@cache
def _turn_moments(scenario_json: str) -> tuple[float, float, float]:
    sc = Scenario.model_validate_json(scenario_json)
    s = sc.workload.sessions
    assert s is not None
    t = sample_lengths(
        s.turns, _DRAWS, np.random.default_rng(_SEED), sc, "sessions.turns", 1 << 30
    ).astype(float)
    return float(t.mean()), float((t * (t - 1) / 2).mean()), float(((t - 1) * (t - 2) / 2).mean())


def turn_moments(scenario: Scenario) -> tuple[float, float, float]:
    """E[T], E[T(T-1)/2] and E[(T-1)(T-2)/2] of the turns per session T."""
    return _turn_moments(scenario.model_dump_json())


def turns_per_session(scenario: Scenario) -> float:
    """Mean turns (requests) per session; 1 without sessions."""
    if scenario.workload.sessions is None:
        return 1.0
    return turn_moments(scenario)[0]


def session_rate_per_s(scenario: Scenario) -> float:
    """Sessions started per second: ``rate_per_s`` (requests) over the mean turns."""
    return float(scenario.workload.rate_per_s or 0.0) / turns_per_session(scenario)


def mean_session_prompt(scenario: Scenario, first: float, answer: float) -> tuple[float, float]:
    """(mean prompt, mean reused conversation) per request, in tokens, for a first prompt
    of ``first`` tokens and answers of ``answer`` tokens on average.

    Turn t's prompt is ``first + (t - 1)(answer + new)``; what it repeats of the turn
    before (prompt and answer) is ``first + answer + (t - 2)(answer + new)`` for t >= 2.
    """
    s = scenario.workload.sessions
    assert s is not None

    new = length_mean(scenario, s.turn_input_tokens, "sessions.turn_input_tokens")
    m1, m2, m3 = turn_moments(scenario)
    prompt = first + (answer + new) * m2 / m1
    reused = ((m1 - 1.0) * (first + answer) + (answer + new) * m3) / m1
    return prompt, reused


def session_prompts(
    scenario: Scenario, n: int, rng: np.random.Generator, first: np.ndarray, answer: np.ndarray
) -> np.ndarray:
    """``n`` prompt lengths of requests drawn across whole sessions (turns weighted as
    they occur), from first prompts and answers drawn by the caller."""
    s = scenario.workload.sessions
    assert s is not None
    turns = sample_lengths(s.turns, n, rng, scenario, "sessions.turns", 1 << 30)
    new = sample_lengths(
        s.turn_input_tokens, n, rng, scenario, "sessions.turn_input_tokens", 1 << 30
    )
    out = []
    for i in range(n):
        prompt = int(first[i])
        for t in range(int(turns[i])):
            if t:
                prompt += int(answer[i]) + int(new[i])
            out.append(prompt)
            if len(out) >= n:
                return np.asarray(out, dtype=np.int64)
    return np.asarray(out, dtype=np.int64)


def session_workload(w: WorkloadSection, scenario: Scenario) -> WorkloadSection:
    """The workload whose arrival process starts the sessions (its rate in sessions)."""
    return w.model_copy(update={"rate_per_s": session_rate_per_s(scenario)})


def session(client: Client, entry: int) -> Generator[simpy.Event, Any, None]:
    """One session's simpy process: send a turn, wait for its answer, think, repeat.

    ``entry`` names the session's conversation in the replicas' prefix caches.
    """
    env, rec, rng = client.env, client.rec, client.rng
    scenario, context = client.scenario, client.context
    w = scenario.workload
    s = w.sessions
    assert s is not None
    turns = int(sample_lengths(s.turns, 1, rng, scenario, "sessions.turns", 1 << 30)[0])
    first = int(sample_lengths(w.input_tokens, 1, rng, scenario, "input_tokens", context)[0])
    prefix = sample_prefixes(scenario, 1, rng)
    shared = (-1, 0) if prefix is None else (int(prefix[0]), w.prefix_tokens)
    prompt = shared[1] + first
    for t in range(turns):
        if t:
            new = sample_lengths(
                s.turn_input_tokens, 1, rng, scenario, "sessions.turn_input_tokens", context
            )
            prompt += int(new[0])
        out, hidden = sample_generated(scenario, 1, rng, context)
        if prompt + int(out[0]) > context:
            return  # the conversation no longer fits: the client stops
        req = rec.add(
            env.now,
            prompt,
            int(out[0]),
            0 if hidden is None else int(hidden[0]),
            shared[0],
            entry,
        )
        answered = client.completion.send(req)
        if answered is not None:
            yield answered
        if rec.status[req] != COMPLETED:
            return
        prompt += int(out[0])  # the answer joins the conversation
        if t + 1 < turns and s.think_time_s > 0:
            yield env.timeout(float(rng.exponential(s.think_time_s)))


def session_starts(scenario: Scenario, rng: np.random.Generator) -> np.ndarray:
    """When each session starts: the workload's arrival process at the session rate,
    until ``duration_s``, at most ``num_requests`` / mean turns sessions."""
    w = scenario.workload
    horizon = w.duration_s if w.duration_s is not None else math.inf
    num = (
        math.ceil(w.num_requests / turns_per_session(scenario))
        if w.num_requests is not None
        else None
    )
    return ARRIVALS[w.arrival](session_workload(w, scenario), rng, horizon, num)
