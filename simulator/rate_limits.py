"""An API's published rate limits against a workload's busiest hour.

A planner comparing a fleet with an API must know whether the API would accept the
traffic at all: providers cap each account per minute (requests, tokens, or input and
output tokens apart), by a spend-based tier. The catalog records the highest tier an
account reaches on its own (``rate_limit`` of an API entry, sourced and dated); a load
above it needs a negotiated limit (a sales contract), which the list price does not buy.
Spreading one workload over several accounts to get around a limit is not counted as a
way out: OpenAI's Terms of Use (effective 2024-01-31) forbid using the services to
"circumvent any rate limits or restrictions", and the Services Agreement asks customers
to "comply with any rate limits".

The load is the busiest hour's rate (the rate a fleet is sized for), with the mean
request's tokens: prompt tokens, and output tokens including hidden reasoning (which
count as generated tokens at every provider). A limit on input tokens counts only the
uncached ones (Anthropic's ITPM), using the same cached share as the API's price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from simplan.economics import ApiQuote

#: How each limit is named in notes and tables.
LIMIT_NAMES = {
    "requests_per_min": "requests per minute",
    "tokens_per_min": "tokens per minute",
    "input_tokens_per_min": "uncached input tokens per minute",
    "output_tokens_per_min": "output tokens per minute",
}


def _needed_per_min(
    requests_per_s: Any,
    input_tokens_per_s: Any,
    output_tokens_per_s: Any,
    cached_share: Any,
) -> dict[str, Any]:
    """What a load needs of each kind of limit, per minute (numbers or arrays)."""
    return {
        "requests_per_min": requests_per_s * 60.0,
        "tokens_per_min": (input_tokens_per_s + output_tokens_per_s) * 60.0,
        "input_tokens_per_min": input_tokens_per_s * (1.0 - cached_share) * 60.0,
        "output_tokens_per_min": output_tokens_per_s * 60.0,
    }


def limit_use_share(
    api: ApiQuote,
    requests_per_s: np.ndarray,
    input_tokens_per_s: np.ndarray,
    output_tokens_per_s: np.ndarray,
    cached_share: np.ndarray,
) -> np.ndarray:
    """:func:`rate_limit_use`'s ``use`` over arrays of loads (NaN where the catalog has
    no limit for the API), each at its own cached-input share: a sweep's column."""
    limit = api.rate_limit
    if limit is None:
        return np.full(np.shape(requests_per_s), np.nan)
    per_min = _needed_per_min(requests_per_s, input_tokens_per_s, output_tokens_per_s, cached_share)
    return np.max([per_min[k] / v for k, v in limit.limits().items()], axis=0)


def rate_limit_use(
    api: ApiQuote, requests_per_s: float, input_tokens_per_s: float, output_tokens_per_s: float
) -> dict[str, Any] | None:
    """The share of the API's rate limit a load uses, at its most binding limit.

    Parameters
    ----------
    api : ApiQuote
        The API, with its catalog rate limit and the workload's cached-input share.
    requests_per_s, input_tokens_per_s, output_tokens_per_s : float
        The load at its busiest (output tokens include hidden reasoning).

    Returns
    -------
    dict or None
        None where the catalog has no limit for the API. Else ``tier``, ``use`` (the
        load over the most binding limit: above 1 the API refuses part of it),
        ``binding`` (which limit: a key of :data:`LIMIT_NAMES`), ``limit_per_min`` and
        ``needed_per_min`` of that limit, ``within`` (``use <= 1``) and ``source``.
    """
    limit = api.rate_limit
    if limit is None:
        return None
    per_min = _needed_per_min(
        requests_per_s, input_tokens_per_s, output_tokens_per_s, api.cached_input_share
    )
    limits = limit.limits()
    uses = {k: per_min[k] / v for k, v in limits.items()}
    binding = max(uses, key=lambda k: uses[k])
    return {
        "tier": limit.tier,
        "use": uses[binding],
        "binding": binding,
        "limit_per_min": limits[binding],
        "needed_per_min": per_min[binding],
        "within": uses[binding] <= 1.0,
        "source": f"{limit.source} (as of {limit.as_of})",
    }


def over_limit_note(api_id: str, use: dict[str, Any] | None) -> str | None:
    """A sentence for an API whose limit the load exceeds (None when it fits or the
    catalog has no limit)."""
    if use is None or use["within"]:
        return None
    return (
        f"{api_id}: the busiest hour needs {use['needed_per_min']:,.0f} "
        f"{LIMIT_NAMES[use['binding']]}, {use['use']:.1f}x its {use['tier']} limit of "
        f"{use['limit_per_min']:,.0f}: the API comparison assumes the provider grants "
        f"{math.ceil(use['use'])}x that limit by contract, at list price"
    )


#: The flat per-API fields a run's summary and Dataset carry (text: tier and binding).
TEXT_FIELDS = ("rate_limit_tier", "rate_limit_binding")


def rate_limit_fields(
    api: ApiQuote, busiest_load: tuple[float, float, float] | None
) -> dict[str, Any]:
    """``rate_limit_use``, ``rate_limit_tier`` and ``rate_limit_binding`` of an API for a
    summary row: None where there is no load or no published limit."""
    use = rate_limit_use(api, *busiest_load) if busiest_load is not None else None
    return {
        "rate_limit_use": None if use is None else use["use"],
        "rate_limit_tier": None if use is None else use["tier"],
        "rate_limit_binding": None if use is None else use["binding"],
    }


def rate_limit_cell(use: float | None, tier: str | None) -> str:
    """How a table shows a rate limit: '12% of Tier 5', '1.5x Tier 4 (over)', '–'."""
    if use is None or tier is None or use != use:
        return "–"
    return f"{use:.0%} of {tier}" if use <= 1.0 else f"{use:.1f}x {tier} (over)"


@dataclass
class TokenBucket:
    """A token bucket holding up to ``capacity``, refilled continuously with ``amount``
    every ``period_s`` seconds (the overflow rate cap, an API's per-minute limits)."""

    capacity: float
    amount: float
    period_s: float
    level: float
    last_s: float = 0.0

    def refill(self, now_s: float) -> None:
        """Add what has dripped in since the last call (up to the capacity)."""
        elapsed = now_s - self.last_s
        self.last_s = now_s
        self.level = min(self.capacity, self.level + elapsed * self.amount / self.period_s)

    def holds(self, need: float) -> bool:
        """Whether the bucket holds ``need`` now (refill first)."""
        return self.level >= need


class Limiter:
    """An API account's per-minute limits as token buckets, for a simulated client.

    Each limit is a bucket holding one minute's worth (the window providers state), full
    at the start and refilled continuously; a request is accepted when every bucket holds
    what it needs (a request, its tokens), and then debited.
    """

    def __init__(self, api: ApiQuote) -> None:
        assert api.rate_limit is not None
        self.buckets = {
            kind: TokenBucket(cap, cap, 60.0, cap) for kind, cap in api.rate_limit.limits().items()
        }
        self.uncached = 1.0 - api.cached_input_share

    def admit(self, now_s: float, input_tokens: float, output_tokens: float) -> bool:
        """Whether the API accepts a request now (and, if so, count it)."""
        for bucket in self.buckets.values():
            bucket.refill(now_s)
        need = {
            "requests_per_min": 1.0,
            "tokens_per_min": input_tokens + output_tokens,
            "input_tokens_per_min": input_tokens * self.uncached,
            "output_tokens_per_min": output_tokens,
        }
        if not all(b.holds(need[k]) for k, b in self.buckets.items()):
            return False
        for k, b in self.buckets.items():
            b.level -= need[k]
        return True
