"""The overflow API: requests the fleet is too busy for are served by an API and billed.

``[overflow]`` names the API and when to use it: no active replica can take the request,
every replica's queue is at ``max_queue_per_replica``, or the self-hosted rate would pass
``rate_cap_per_s`` (a token bucket). The API streams the answer after a sampled TTFT at
its stated output speed, and its cost is the catalog price of the tokens it served.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from simplan.economics import ApiQuote, cached_input_share, catalog_quote, selected_apis
from simplan.engine import ReplicaEngine
from simplan.rate_limits import Limiter, TokenBucket
from simplan.recorder import Recorder
from simplan.scenario import OverflowSection, Scenario

#: Recorder.replica value of a request the overflow API served.
SERVED_BY_API = -2

#: Fewest requests the overflow rate cap's token bucket holds. With one, a cap below 1/s
#: never admitted anything (a bucket of ``cap`` tokens never reaches a whole request), and
#: a full bucket waiting for the next arrival loses the refill meanwhile (a cap of 0.5/s
#: would self-host 0.4/s of a 2/s load); with two, a sustained load gets the cap.
MIN_CAP_BURST = 2.0


def cap_burst(rate_cap_per_s: float) -> float:
    """Requests the overflow rate cap's token bucket holds: a second's worth, at least two."""
    return max(MIN_CAP_BURST, rate_cap_per_s)


def selected_apis_with(scenario: Scenario, api_id: str) -> list[ApiQuote]:
    """The scenario's API quotes, plus the overflow API if [pricing] does not list it."""
    quotes = selected_apis(scenario)
    if all(q.id != api_id for q in quotes):
        quotes.append(catalog_quote(api_id, cached_input_share(scenario)))
    return quotes


@dataclass
class ApiCounters:
    """What the overflow API served and what it cost."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    rate_limited: int = 0  # kept on the fleet: the API's rate limit was spent


@dataclass
class Overflow:
    """The overflow rule of ``[overflow]`` and the API that serves what it sends away."""

    env: simpy.Environment
    section: OverflowSection
    api: ApiQuote
    rec: Recorder
    rng: np.random.Generator
    served: ApiCounters = field(default_factory=ApiCounters)
    # the rate cap's bucket; it starts empty, so the cap holds from the first second
    cap: TokenBucket | None = None
    limiter: Limiter | None = None
    _refused: set[int] = field(default_factory=set)  # requests the API's limit turned away

    def __post_init__(self) -> None:
        rate = self.section.rate_cap_per_s
        if rate is not None:
            self.cap = TokenBucket(cap_burst(rate), rate, 1.0, 0.0)
        if self.api.rate_limit is not None:
            self.limiter = Limiter(self.api)

    @classmethod
    def of(
        cls, env: simpy.Environment, scenario: Scenario, rec: Recorder, rng: np.random.Generator
    ) -> Overflow | None:
        """The scenario's overflow, or None without ``[overflow]``."""
        ov = scenario.overflow
        if ov is None:
            return None
        api = next(a for a in selected_apis_with(scenario, ov.api) if a.id == ov.api)
        return cls(env, ov, api, rec, rng)

    def wanted(self, candidates: Sequence[ReplicaEngine], req: int) -> bool:
        """Whether a new request goes to the API rather than to one of ``candidates``.

        Consumes a token of the rate cap's bucket when the request stays self-hosted. The
        API takes it only within its published rate limit (:class:`Limiter`); past it,
        the request stays with the fleet (queued, or in the backlog) even beyond the
        rate cap: it has nowhere else to go. Each request refused so is counted once,
        however often it is routed again.
        """
        if not self._overflows(candidates):
            return False
        if self.limiter is None:
            return True
        rec = self.rec
        prompt = int(rec.input_tokens[req]) + int(rec.generated[req])
        remaining = int(rec.output_tokens[req]) - int(rec.generated[req])
        if self.limiter.admit(self.env.now, prompt, remaining):
            return True
        if req not in self._refused:
            self._refused.add(req)
            self.served.rate_limited += 1
        return False

    def _overflows(self, candidates: Sequence[ReplicaEngine]) -> bool:
        ov = self.section
        if not candidates:
            return True
        if ov.max_queue_per_replica is not None and all(
            len(e.waiting) >= ov.max_queue_per_replica for e in candidates
        ):
            return True
        if self.cap is not None:
            # refills at the cap and holds cap_burst() requests, so a cap below 1/s
            # still self-hosts one request every 1/cap s on average
            self.cap.refill(self.env.now)
            if not self.cap.holds(1.0):
                return True
            self.cap.level -= 1.0
        return False

    def serve(self, req: int) -> None:
        """Send ``req`` (what is left of it) to the API: bill it and stream its tokens."""
        ov = self.section
        rec = self.rec
        prompt = int(rec.input_tokens[req]) + int(rec.generated[req])
        remaining = int(rec.output_tokens[req]) - int(rec.generated[req])
        self.served.requests += 1
        self.served.input_tokens += prompt
        self.served.output_tokens += remaining
        self.served.usd += float(self.api.cost_usd(prompt, remaining))
        if ov.ttft_std_s > 0:
            sigma2 = math.log1p((ov.ttft_std_s / ov.ttft_s) ** 2)
            ttft = float(self.rng.lognormal(math.log(ov.ttft_s) - sigma2 / 2, math.sqrt(sigma2)))
        else:
            ttft = ov.ttft_s
        rec.replica[req] = SERVED_BY_API
        if rec.scheduled_s[req] < 0:
            rec.scheduled_s[req] = self.env.now
        self.env.process(self._stream(req, ttft, remaining))

    def _stream(self, req: int, ttft_s: float, remaining: int) -> Generator[simpy.Event, Any, None]:
        rec = self.rec
        yield self.env.timeout(ttft_s)
        if rec.first_token_s[req] < 0:
            rec.first_token_s[req] = self.env.now
        yield self.env.timeout(max(remaining - 1, 0) / self.section.output_tokens_per_s)
        rec.generated[req] = rec.output_tokens[req]
        rec.finish(req, self.env.now)
