"""What prefix caching saves a replica in the steady state, for the fast path.

The simulation caches prefixes block by block as requests arrive
(:mod:`simplan.prefix_cache`); the steady-state model needs two averages instead, which
go into the configuration vector (``PREFIX_HIT_TOKENS``, ``PREFIX_POOL_TOKENS``,
``PREFIX_HIT_SHARE``):

* the prompt tokens a request reuses: the shared prefix's full blocks, for requests
  whose prefix is cached, and for a session's later turns the share of the rest that
  repeats the conversation (when idle conversations stay cached between turns);
* the KV the cached prefixes pin: one copy of each, shared by every request using it.

A prefix stays cached while the cache has room for it. Until a replica's KV cache runs
short, the running requests' own blocks leave the rest to cached prefixes, and LRU
eviction keeps the most popular ones. simplan assumes the prefixes, most popular first,
that fit in half of the KV cache stay resident, and that the others miss. Half is an
assumption; it leaves the other half to the running sequences' own blocks. With one
prefix or a few short ones everything fits and every request after the first hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from simplan.kernels import layout as c
from simplan.kernels.memory import kv_capacity_tokens
from simplan.sessions import mean_session_prompt, turns_per_session
from simplan.workload import mean_length, mean_lengths, prefix_weights, reuses_prompts

if TYPE_CHECKING:
    from simplan.scenario import Scenario

#: Share of the KV cache the steady-state model lets cached prefixes keep (see above).
RESIDENT_SHARE = 0.5


@dataclass(frozen=True)
class PromptReuse:
    """What a workload's prompts repeat, as the performance model needs it."""

    tokens: int  # shared prefix length (0: none)
    weights: tuple[float, ...]  # popularity of each shared prefix, summing to 1
    # sessions: the share of a prompt beyond the shared prefix that repeats the
    # conversation so far, and the KV tokens idle sessions keep cached between turns
    conversation_share: float = 0.0
    idle_tokens: float = 0.0


def reuse_of(scenario: Scenario) -> PromptReuse | None:
    """A scenario's :class:`PromptReuse` (None when nothing can be reused: prefix caching
    off, or no shared prefixes and no sessions)."""
    w = scenario.workload
    if not scenario.engine.enable_prefix_caching or not reuses_prompts(scenario):
        return None
    shared = w.prefix_tokens
    weights = tuple(float(x) for x in prefix_weights(w))
    if w.sessions is None:
        return PromptReuse(shared, weights)
    answer = mean_lengths(scenario)[1]
    prompt, reused = mean_session_prompt(
        scenario, mean_length(scenario, "input_tokens") + shared, answer
    )
    turns = turns_per_session(scenario)
    # later turns repeat the shared prefix too: what they add beyond it
    beyond = reused - shared * (turns - 1.0) / turns
    # Little's law: sessions start at rate / turns, and wait turns - 1 think times each
    idle = (float(w.rate_per_s or 0.0) / turns * (turns - 1.0) * w.sessions.think_time_s) * (
        prompt + answer
    )
    return PromptReuse(shared, weights, beyond / max(prompt - shared, 1.0), idle)


def fill_cfg(cfg: np.ndarray, reuse: PromptReuse | None, block: int) -> None:
    """Set ``PREFIX_HIT_TOKENS``, ``PREFIX_POOL_TOKENS`` and ``PREFIX_HIT_SHARE`` (0 without
    reuse); the memory slots of ``cfg`` must be set."""
    cfg[c.PREFIX_HIT_TOKENS] = 0.0
    cfg[c.PREFIX_POOL_TOKENS] = 0.0
    cfg[c.PREFIX_HIT_SHARE] = 0.0
    if reuse is None:
        return
    room = RESIDENT_SHARE * float(kv_capacity_tokens(cfg))
    full = (reuse.tokens // block) * block  # only whole blocks are reused
    if full > 0 and reuse.weights:
        popular = np.sort(np.asarray(reuse.weights, dtype=float))[::-1]
        resident = min(int(room // full), popular.size)
        cfg[c.PREFIX_HIT_TOKENS] = full * float(popular[:resident].sum())
        cfg[c.PREFIX_POOL_TOKENS] = float(full * resident)
        room -= full * resident
    if reuse.conversation_share > 0.0:
        # conversations idle between turns stay cached while they fit the room left;
        # beyond it, LRU keeps that share of them
        kept = 1.0 if reuse.idle_tokens <= room else max(room, 0.0) / reuse.idle_tokens
        cfg[c.PREFIX_HIT_SHARE] = reuse.conversation_share * kept
