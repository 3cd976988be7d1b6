"""Routing and admission: where a request goes when it arrives or its prompt is done.

:class:`Router` rejects what no replica can ever hold (or the model's context exceeds),
sends the rest to the overflow API when ``[overflow]`` says so, to a backlog while no
replica is active, else to the replica the ``[engine] router`` policy picks. In a
disaggregated fleet it also hands a prefilled request's KV cache to a decode replica
(:mod:`simplan.disaggregation`).

A policy is one function each, chosen by name: it gets the replicas that can serve the
request and the cached entry its prompt starts with (-1: none), and returns the replica.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from itertools import count
from typing import Any, Protocol, TypeVar

import simpy
from simplan.disaggregation import transfer_s
from simplan.engine import ACTIVE, ReplicaEngine
from simplan.fleet.overflow import Overflow
from simplan.recorder import Recorder
from simplan.scenario import Scenario


class Routable(Protocol):
    index: int

    def outstanding(self) -> int: ...

    def kv_load(self) -> float: ...

    def holds_prefix(self, prefix: int) -> bool: ...

    def cached_blocks(self) -> int: ...

    def submit(self, req: int) -> None: ...


R = TypeVar("R", bound=Routable)


class Policy(Protocol):
    """A router policy: the replica (of those given) that gets the request."""

    def __call__(self, replicas: Sequence[R], prefix: int = -1, /) -> R: ...


#: Load imbalance beyond which the prefix-aware policy balances instead: the busiest
#: replica has more than BALANCE_ABS requests and BALANCE_REL times the idlest's more.
#: The defaults of the SGLang model gateway's cache_aware policy (lightseekorg/smg,
#: docs/getting-started/load-balancing.md: --balance-abs-threshold 64,
#: --balance-rel-threshold 1.5; read 2026-12-02).
BALANCE_ABS = 64
BALANCE_REL = 1.5


def round_robin() -> Policy:
    """Each request to the next replica in turn."""
    turn = count()

    def pick(replicas: Sequence[R], prefix: int = -1) -> R:
        return replicas[next(turn) % len(replicas)]

    return pick


def least_outstanding() -> Policy:
    """The replica with the fewest requests waiting or running (ties: lowest index)."""

    def pick(replicas: Sequence[R], prefix: int = -1) -> R:
        return min(replicas, key=lambda r: (r.outstanding(), r.index))

    return pick


def least_kv_load() -> Policy:
    """The replica whose KV cache (used plus queued demand) is the least full."""

    def pick(replicas: Sequence[R], prefix: int = -1) -> R:
        return min(replicas, key=lambda r: (r.kv_load(), r.index))

    return pick


def prefix_aware() -> Policy:
    """The least-loaded replica that has the request's prefix cached; a prefix cached
    nowhere goes to the replica caching least (the most room), and prompts without a
    shared prefix, or any request while the fleet is out of balance, to the least-loaded
    replica: the cache-aware routing of SGLang's gateway at whole-prefix granularity."""

    def pick(replicas: Sequence[R], prefix: int = -1) -> R:
        least = min(replicas, key=lambda r: (r.outstanding(), r.index))
        if prefix < 0:
            return least
        busiest = max(r.outstanding() for r in replicas)
        low = least.outstanding()
        if busiest - low > BALANCE_ABS and busiest > BALANCE_REL * low:
            return least
        holders = [r for r in replicas if r.holds_prefix(prefix)]
        if not holders:
            return min(replicas, key=lambda r: (r.cached_blocks(), r.outstanding(), r.index))
        return min(holders, key=lambda r: (r.outstanding(), r.index))

    return pick


POLICIES: dict[str, Callable[[], Policy]] = {
    "round_robin": round_robin,
    "least_outstanding": least_outstanding,
    "least_kv_load": least_kv_load,
    "prefix_aware": prefix_aware,
}


class Router:
    """Admission and routing of the fleet's requests, and its backlog."""

    def __init__(
        self,
        env: simpy.Environment,
        scenario: Scenario,
        engines: list[ReplicaEngine],
        rec: Recorder,
        context: int,
        overflow: Overflow | None,
    ) -> None:
        self.env = env
        self.engines = engines
        self.rec = rec
        self.context = context
        self.overflow = overflow
        self.policy = POLICIES[scenario.engine.router]()
        self.link_gb_per_s = scenario.hardware.kv_transfer_gb_per_s
        self.backlog: deque[int] = deque()
        self.self_hosted_arrivals = 0  # routed to the fleet (the autoscaler's rate)

    def active(self) -> list[ReplicaEngine]:
        return [e for e in self.engines if e.state == ACTIVE]

    def reject_reason(self, req: int) -> str | None:
        """Why no replica can ever serve ``req``, or None."""
        inp, out = int(self.rec.input_tokens[req]), int(self.rec.output_tokens[req])
        if inp + out > self.context:
            return f"prompt + output exceed the model's context of {self.context} tokens"
        if not any(e.ever_admits(inp + out) for e in self.engines):
            return "longer than one replica's KV cache holds"
        return None

    def route(self, req: int) -> None:
        """Send a request to a replica, the overflow API, the backlog, or reject it."""
        reason = self.reject_reason(req)
        if reason is not None:
            self.rec.reject(req, self.env.now, reason)
            return
        tokens = int(self.rec.input_tokens[req]) + int(self.rec.output_tokens[req])
        # new requests start where prompts are computed (not on decode-only replicas)
        candidates = [e for e in self.active() if e.role != "decode" and e.ever_admits(tokens)]
        if self.overflow is not None and self.overflow.wanted(candidates, req):
            self.overflow.serve(req)
            return
        self.self_hosted_arrivals += 1
        if not candidates:
            self.backlog.append(req)
            return
        self.policy(candidates, self._affinity(req)).submit(req)

    def flush(self) -> None:
        """Route the backlog again (a replica became active)."""
        pending, self.backlog = self.backlog, deque()
        for req in pending:
            self.route(req)

    def _affinity(self, req: int) -> int:
        """The most specific cached entry a request's prompt starts with: the session's
        conversation, else the shared prefix (-1: none)."""
        session = int(self.rec.session_entry[req])
        return session if session >= 0 else int(self.rec.prefix_id[req])

    def _decoders(self, req: int) -> list[ReplicaEngine]:
        tokens = int(self.rec.input_tokens[req]) + int(self.rec.output_tokens[req])
        return [e for e in self.active() if e.role == "decode" and e.ever_admits(tokens)]

    def hand_off(self, src: ReplicaEngine, req: int) -> None:
        """A prefill replica computed ``req``'s prompt: move its KV cache to a decode
        replica; the first token reaches the client when the cache has arrived."""
        rec = self.rec
        decoders = self._decoders(req)
        if not decoders:  # none up: start over when one is (its prompt is recomputed)
            rec.generated[req] = 0
            self.backlog.append(req)
            return
        dst = self.policy(decoders, self._affinity(req))
        seconds = transfer_s(
            src.replica, dst.replica, int(rec.input_tokens[req]), self.link_gb_per_s
        )
        rec.kv_transfer_s[req] = seconds
        self.env.process(self._arrive(req, dst, seconds))

    def _arrive(
        self, req: int, dst: ReplicaEngine, seconds: float
    ) -> Generator[simpy.Event, Any, None]:
        rec = self.rec
        yield self.env.timeout(seconds)
        if rec.first_token_s[req] < 0:
            rec.first_token_s[req] = self.env.now
        if rec.generated[req] >= rec.output_tokens[req]:
            rec.finish(req, self.env.now)  # the prompt's token was the only one
            return
        rec.kv_ready[req] = 1
        target = dst if dst.state == ACTIVE else None
        if target is None:
            others = self._decoders(req)
            if not others:
                rec.kv_ready[req] = 0
                rec.generated[req] = 0
                self.backlog.append(req)
                return
            target = self.policy(others, -1)
        target.submit(req)
