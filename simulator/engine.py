"""One replica's engine: iteration-level continuous batching, as a simpy process.

Admission, preemption and the KV blocks are the scheduler's (:mod:`simplan.scheduler`);
the engine runs the iterations vLLM's does:

* each iteration spends a token budget of ``max_num_batched_tokens``: one token per
  decoding sequence first (k + 1 with speculative decoding), then prompt chunks in
  admission order (chunked prefill); with chunked prefill off, whole prompts run in
  prefill-only iterations;
* a decoding sequence that needs a KV block none can give makes the scheduler preempt the
  newest sequence until the rest can take their next token;
* in a disaggregated fleet (:mod:`simplan.disaggregation`) a ``prefill`` replica only
  computes prompts and hands each request to the fleet once its first token is sampled;
  a ``decode`` replica admits it with its prompt's KV cache already there;
* with speculative decoding a decoding sequence gains the expected accepted tokens per
  iteration (:mod:`simplan.kernels.speculative`), banked as a fraction between
  iterations so that tokens arrive whole and on average at that rate;
* ``static`` batching admits a new batch only when the previous one has fully finished.

Each iteration's duration comes from the compiled core (:func:`step_time_s`); runs of
decode-only iterations are planned in one call (:func:`decode_plan`) and cut short when a
new request arrives at an idle queue, so the loop never steps tokens one by one in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy
from simplan.kernels.decode import decode_plan
from simplan.kernels.roofline import step_flops_and_bytes, step_time_s
from simplan.scheduler import Scheduler, SchedulerSettings

if TYPE_CHECKING:
    from simplan.perf import Replica
    from simplan.recorder import Recorder

#: Longest run of decode iterations planned in one call.
MAX_PLAN_STEPS = 4096

# Replica lifecycle states (the fleet bills every state but OFF).
OFF, PROVISIONING, ACTIVE, DRAINING, FAILED = 0, 1, 2, 3, 4


class ReplicaEngine(Scheduler):
    """A replica's simpy process (:meth:`run`) over its scheduler's state."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        replica: Replica,
        recorder: Recorder,
        settings: SchedulerSettings,
        *,
        pool: int = 0,
        state: int = ACTIVE,
    ) -> None:
        super().__init__(index, replica, recorder, settings)
        self.env = env
        self.pool = pool
        self._plan_buf = np.empty(MAX_PLAN_STEPS)
        self._wakeup: simpy.Event | None = None
        # (start time, iteration end offsets, slots) of the decode run in progress
        self._run: tuple[float, np.ndarray, np.ndarray] | None = None
        self.state = state
        self._state_since = 0.0
        self.process: simpy.Process | None = None
        # called when a DRAINING replica has no work left (the fleet stops billing it)
        self.on_drained: Callable[[ReplicaEngine], None] | None = None
        # prefill replicas of a disaggregated fleet: called with a request whose prompt is
        # computed (the fleet moves its KV cache to a decode replica)
        self.on_prefilled: Callable[[ReplicaEngine, int], None] | None = None
        # Accumulators read by the time-series sampler (the token counts are the
        # scheduler's).
        self.busy_s = 0.0
        self.busy_since: float | None = None
        self.flops = 0.0
        self.bytes = 0.0

    # --- what the router sees ----------------------------------------------------------

    def outstanding(self) -> int:
        """Requests waiting or running here (the router's least-outstanding measure)."""
        return len(self.waiting) + self.n_running

    def kv_load(self) -> float:
        """Share of the KV cache in use or asked for by the queue's prompts."""
        return (self.blocks_used() + self.waiting_tokens / self.block) / max(self.total_blocks, 1)

    def blocks_used(self) -> int:
        """KV blocks in use now, including those a decode run in progress has filled
        (cached blocks no request references count as free, as in vLLM's usage)."""
        used = self.kv.used()
        if self._run is None:
            return used
        start, ends, active = self._run
        steps = int(np.searchsorted(ends, self.env.now - start, side="right"))
        if steps == 0:
            return used
        return used + int(self.blocks_short(active, self.produced(active, steps)).sum())

    def start(self) -> None:
        """Start (or restart) the replica's simpy process."""
        self.process = self.env.process(self.run())

    def evict(self) -> list[int]:
        """Drop every waiting and running request (failure, spot interruption).

        Returns their ids, oldest first, for the fleet to send elsewhere; their KV cache is
        lost, so they are recomputed from prompt plus tokens generated so far.
        """
        now = self.env.now
        reqs = self.drop_all()
        self._run = None
        if self.busy_since is not None:
            self.busy_s += now - self.busy_since
            self.busy_since = None
        self.halt("evicted")
        self.process = None
        self._wakeup = None
        return reqs

    def halt(self, why: str) -> None:
        """Stop the loop now (a draining replica with nothing left, an eviction)."""
        if self.process is not None and self.process.is_alive:
            self.process.interrupt(why)

    def submit(self, req: int) -> None:
        """Queue a request (called by the router) and wake the loop if it is idle."""
        self.enqueue(req)
        self.rec.replica[req] = self.index
        self.wake()

    def wake(self) -> None:
        """Wake the loop if it waits (idle, or in a decode run an arrival may cut short)."""
        if self._wakeup is not None and not self._wakeup.triggered:
            self._wakeup.succeed()

    def enter_state(self, state: int) -> tuple[int, float]:
        """Switch to lifecycle ``state``; return the state left and the seconds spent in it
        (the fleet's availability accounting)."""
        now = self.env.now
        left, spent = self.state, now - self._state_since
        self.state, self._state_since = state, now
        return left, spent

    # --- the process -------------------------------------------------------------------

    def _busy(self, start: float, end: float) -> None:
        self.busy_s += end - start
        self.busy_since = None

    def run(self):
        """The replica's simpy process: schedule, run an iteration or a decode run, repeat."""
        try:
            yield from self._loop()
        except simpy.Interrupt:
            return  # evicted: the fleet has taken the requests back

    def _loop(self):
        env = self.env
        while True:
            self.admit(env.now)
            if self.n_running == 0:
                self.deliver(env.now)  # no next step to overlap the output processing with
                if self.state == DRAINING and not self.waiting and self.on_drained is not None:
                    self.on_drained(self)
                    return
                self._wakeup = env.event()
                yield self._wakeup
                self._wakeup = None
                continue
            active = np.flatnonzero(self.slot_req >= 0)
            prefilling = active[self.prompt_left[active] > 0]
            if prefilling.size:
                yield from self._mixed_iteration(active, prefilling)
            else:
                yield from self._decode_run(active)

    def _mixed_iteration(self, active: np.ndarray, prefilling: np.ndarray):
        """One iteration with prompt chunks (and, with chunked prefill, the decodes)."""
        env = self.env
        decoding = active[self.prompt_left[active] == 0]
        if not self.chunked:
            decoding = decoding[:0]
        # each decode takes its verify tokens (k + 1 with speculation) from the budget
        q = self.verify_tokens
        budget = self.budget - q * decoding.size
        # decodes need room for the tokens they gain
        while decoding.size and not self.grow(decoding, self.produced(decoding, 1)):
            self.preempt()
            active = np.flatnonzero(self.slot_req >= 0)
            decoding = active[self.prompt_left[active] == 0] if self.chunked else decoding[:0]
            prefilling = active[self.prompt_left[active] > 0]
            budget = self.budget - q * decoding.size
        chunks: list[tuple[int, int]] = []
        order = prefilling[np.argsort(self.admitted_at[prefilling], kind="stable")]
        pairs = 0.0
        pre_tokens = 0
        done_prefill = 0
        for slot in order:
            if budget <= 0:
                break
            left = int(self.prompt_left[slot])
            if self.chunked:
                chunk = min(left, budget)
            elif left <= budget or not chunks:
                chunk = left  # a whole prompt; one that exceeds the budget runs alone
            else:
                break
            prefix = int(self.kv_tokens[slot])
            pairs += chunk * (prefix + (chunk + 1) / 2.0)
            pre_tokens += chunk
            budget -= chunk
            chunks.append((int(slot), chunk))
            if chunk == left:
                done_prefill += 1
        n_dec = float(decoding.size)
        dec_ctx = float(self.kv_tokens[decoding].sum()) + n_dec
        dt = step_time_s(self.cfg, float(pre_tokens), pairs, float(done_prefill), n_dec, dec_ctx)
        f, b = step_flops_and_bytes(
            self.cfg, float(pre_tokens), pairs, float(done_prefill), n_dec, dec_ctx
        )
        start = env.now
        self.busy_since = start
        yield env.timeout(dt)
        self._busy(start, env.now)
        self.flops += f
        self.bytes += b
        rec = self.rec
        now = env.now
        self.deliver(now)
        if decoding.size:
            self.advance(decoding, 1)
        for slot, chunk in chunks:
            self.kv_tokens[slot] += chunk
            self.prompt_left[slot] -= chunk
            self.input_tokens += chunk
            if self.prompt_left[slot] == 0:
                req = int(self.slot_req[slot])
                rec.generated[req] += 1
                self.output_tokens += 1
                # a prefill replica's token reaches the client from the decode replica
                if rec.first_token_s[req] < 0 and self.role != "prefill":
                    if self.output_lag and rec.generated[req] < rec.output_tokens[req]:
                        self.lagged.append(req)  # delivered when the next step ends
                    else:
                        rec.first_token_s[req] = now
        self.cache_prefixes(chunks)
        if self.role == "prefill":
            self._hand_off([slot for slot, _ in chunks if self.prompt_left[slot] == 0])
        self.finish_done(env.now)

    def deliver(self, now: float) -> None:
        """Deliver the first tokens held back by ``output_lag`` (the step after their
        prefill has ended, or the engine has gone idle)."""
        if self.lagged:
            first = self.rec.first_token_s
            for req in self.lagged:
                if first[req] < 0:
                    first[req] = now
            self.lagged.clear()

    def _hand_off(self, slots: list[int]) -> None:
        """Release the computed prompts of a prefill replica to the fleet."""
        for slot in slots:
            req = int(self.slot_req[slot])
            self.release(slot)
            if self.on_prefilled is not None:
                self.on_prefilled(self, req)

    def _decode_run(self, active: np.ndarray):
        """Decode iterations of a fixed batch until a completion, a preemption or an arrival."""
        env = self.env
        cap = MAX_PLAN_STEPS
        while True:
            steps, _used, flops, nbytes = decode_plan(
                self.cfg,
                self.kv_tokens[active],
                self.kv.holds(active),
                self.decode_left[active],
                self.carry[active],
                self.kv.allocatable(),
                self.block,
                cap,
                self._plan_buf,
            )
            if steps:
                break
            # vLLM preempts until the rest of the batch can take its next token and runs
            # that step before it admits anyone (vllm/v1/core/sched/scheduler.py,
            # `if not preempted_reqs`): the batch always makes progress.
            self.preempt()
            active = np.flatnonzero(self.slot_req >= 0)
            if not active.size:
                return
        ends = self._plan_buf[:steps]
        start = env.now
        self.busy_since = start
        self._run = (start, ends, active)
        # A new request can only join at an iteration boundary, and only if it could be
        # admitted; with a non-empty queue (blocked FCFS) or static batching it cannot.
        interruptible = not self.waiting and not self.static and self.n_running < self.max_num_seqs
        if interruptible:
            self._wakeup = env.event()
            yield env.timeout(float(ends[-1])) | self._wakeup
            self._wakeup = None
            elapsed = env.now - start
            done = int(np.searchsorted(ends, elapsed - 1e-12, side="left")) + 1
            done = min(done, steps)
            end_t = start + float(ends[done - 1])
            if end_t > env.now:
                yield env.timeout(end_t - env.now)
            if done < steps:
                flops *= done / steps
                nbytes *= done / steps
        else:
            done = steps
            yield env.timeout(float(ends[-1]))
        self._run = None
        self._busy(start, env.now)
        self.deliver(start + float(ends[0]))
        self.flops += flops
        self.bytes += nbytes
        # grow KV blocks for the tokens written
        self.grow_planned(active, self.produced(active, done))
        self.advance(active, done)
        self.finish_done(env.now)
