"""The ``[workload.sessions]`` table: multi-turn conversations and agent loops."""

from __future__ import annotations

from pydantic import Field
from simplan.scenario.base import PositiveInt, TokenCount, _Section
from simplan.scenario.lengths import LengthSpec


class SessionsSection(_Section):
    """Requests come as sessions of turns. A session's first prompt is the workload's
    (any shared prefix, then ``input_tokens``); each later prompt is the whole
    conversation so far (prompts and outputs) plus ``turn_input_tokens`` of new user or
    tool tokens; each turn is sent ``think_time_s`` (exponential) after the previous one
    finished. ``rate_per_s`` still counts requests: sessions start at ``rate_per_s``
    divided by the mean number of turns."""

    turns: PositiveInt | LengthSpec = Field(
        description="Turns per session: a number or a length table (e.g. "
        '{distribution = "uniform", low = 2, high = 12}).'
    )
    turn_input_tokens: TokenCount | LengthSpec = Field(
        description="New tokens each later turn adds to the conversation (the user's "
        "message, a tool's result)."
    )
    think_time_s: float = Field(
        default=0.0,
        ge=0.0,
        le=86_400.0,
        allow_inf_nan=False,
        description="Mean time between a turn's answer and the next turn (exponential): a "
        "user reading and typing, or a tool running.",
    )
