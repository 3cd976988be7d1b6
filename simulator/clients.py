"""The simpy processes that send requests, and the count that says when a run is done.

* :func:`open_loop` releases pre-generated requests at their arrival times;
* :func:`closed_user` is one user of a closed loop (send, wait, think, repeat);
* :func:`start_sessions` starts each multi-turn session (:func:`simplan.sessions.session`).

:class:`Completion` is the one owner of "how many requests are in flight": every request
goes through :meth:`Completion.dispatch`, and :attr:`Completion.done` fires when the
arrivals have ended and the last request has finished or been rejected.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simplan.arrivals import Requests
from simplan.recorder import PENDING, Recorder
from simplan.sessions import session
from simplan.workload import sample_generated, sample_lengths, sample_prefixes

if TYPE_CHECKING:
    from simplan.fleet import Fleet
    from simplan.scenario import Scenario


class Completion:
    """Requests in flight, the clients waiting on them, and the event of the run's end."""

    def __init__(self, env: simpy.Environment, fleet: Fleet) -> None:
        self.env = env
        self.fleet = fleet
        self.outstanding = 0
        self.arrivals_done = False
        self.done = env.event()
        self._waiters: dict[int, simpy.Event] = {}
        fleet.rec.on_finish = self.finished

    def dispatch(self, req: int) -> None:
        """Send a new request into the fleet."""
        self.outstanding += 1
        self.fleet.arrivals += 1
        self.fleet.route(req)

    def send(self, req: int) -> simpy.Event | None:
        """Dispatch ``req`` for a client that waits on it: an event that fires when it
        finishes, or None if it already has (rejected on arrival)."""
        done = self.env.event()
        self._waiters[req] = done
        self.dispatch(req)
        if self.fleet.rec.status[req] == PENDING:
            return done
        self._waiters.pop(req, None)
        return None

    def finished(self, req: int) -> None:
        """A request completed or was rejected (the Recorder's ``on_finish``)."""
        self.outstanding -= 1
        self._check()
        waiter = self._waiters.pop(req, None)
        if waiter is not None:
            waiter.succeed()

    def end_arrivals(self) -> None:
        """No request will arrive any more."""
        self.arrivals_done = True
        self._check()

    def _check(self) -> None:
        if self.arrivals_done and self.outstanding == 0 and not self.done.triggered:
            self.done.succeed()


@dataclass
class Client:
    """What a closed-loop user or a session needs to make and send its requests."""

    completion: Completion
    scenario: Scenario
    rng: np.random.Generator
    context: int
    #: The load generator's one sender, which the users take turns on for
    #: ``client_send_s`` each (None: users send at once)
    sender: simpy.Resource | None = None

    @property
    def env(self) -> simpy.Environment:
        return self.completion.env

    @property
    def rec(self) -> Recorder:
        return self.completion.fleet.rec


def open_loop(
    env: simpy.Environment, reqs: Requests, completion: Completion, stopped: simpy.Event
) -> Generator[simpy.Event, Any, None]:
    """Release pre-generated requests at their arrival times (until ``stopped``)."""
    rec = completion.fleet.rec
    times, inp, out = reqs.arrival_s, reqs.input_tokens, reqs.output_tokens
    hidden, prefix = reqs.reasoning_tokens, reqs.prefix_id
    for i in range(len(reqs)):
        delay = float(times[i]) - env.now
        if delay > 0:
            yield env.timeout(delay)
        if stopped.triggered:
            break
        reasoning = 0 if hidden is None else int(hidden[i])
        which = -1 if prefix is None else int(prefix[i])
        completion.dispatch(rec.add(float(times[i]), int(inp[i]), int(out[i]), reasoning, which))
    completion.end_arrivals()


def closed_user(client: Client) -> Generator[simpy.Event, Any, None]:
    """One closed-loop user: send a request, wait for it, think, repeat."""
    env, rec, rng = client.env, client.rec, client.rng
    scenario, context = client.scenario, client.context
    w = scenario.workload

    def stopped() -> bool:
        ended = w.duration_s is not None and env.now >= w.duration_s
        return ended or (w.num_requests is not None and rec.n >= w.num_requests)

    while True:
        if stopped():
            return
        if client.sender is not None:
            # the request reaches the engine once the generator has sent it, after the
            # requests of the users ahead in line (who may use up the run meanwhile)
            with client.sender.request() as turn:
                yield turn
                yield env.timeout(w.client_send_s)
            if stopped():
                return
        inp = int(sample_lengths(w.input_tokens, 1, rng, scenario, "input_tokens", context)[0])
        out, hidden = sample_generated(scenario, 1, rng, context)
        prefix = sample_prefixes(scenario, 1, rng)
        shared = w.prefix_tokens
        which = -1 if prefix is None else int(prefix[0])
        req = rec.add(
            env.now,
            inp + (shared if prefix is not None else 0),
            int(out[0]),
            0 if hidden is None else int(hidden[0]),
            which,
        )
        answered = client.completion.send(req)
        if answered is not None:
            yield answered
        else:
            yield env.timeout(1e-3)  # a rejected request: do not spin at the same instant
        if w.think_time_s > 0:
            think = float(rng.exponential(w.think_time_s))
            if w.duration_s is not None:
                think = min(think, max(w.duration_s - env.now, 0.0))  # the run ends first
            yield env.timeout(think)


def closed_users(client: Client, users: int) -> None:
    """Start a closed loop of ``users``; arrivals end when every user has stopped.

    With ``client_send_s`` the users share one sender: at the start, and whenever
    requests finish together, their next requests arrive ``client_send_s`` apart."""
    if client.scenario.workload.client_send_s > 0:
        client.sender = simpy.Resource(client.env, capacity=1)
    running = [client.env.process(closed_user(client)) for _ in range(users)]
    client.env.process(_end_with(client, running))


def start_sessions(client: Client, starts: np.ndarray) -> Generator[simpy.Event, Any, None]:
    """Start each session at its time (simplan.sessions); arrivals end when every one has."""
    env = client.env
    first_entry = client.scenario.workload.num_shared_prefixes  # cache ids after the shared
    running = []
    for i, t in enumerate(starts):
        delay = float(t) - env.now
        if delay > 0:
            yield env.timeout(delay)
        running.append(env.process(session(client, first_entry + i)))
    yield from _end_with(client, running)


def _end_with(client: Client, running: list[simpy.Process]) -> Generator[simpy.Event, Any, None]:
    yield client.env.all_of(running)
    client.completion.end_arrivals()
