"""One replica's engine: iteration-level continuous batching with a paged KV cache.

The engine follows vLLM's scheduler:

* an FCFS waiting queue; a request is admitted while ``max_num_seqs`` and the free KV
  blocks allow (its prompt's blocks are allocated at admission);
* each iteration spends a token budget of ``max_num_batched_tokens``: one token per
  decoding sequence first, then prompt chunks in admission order (chunked prefill); with
  chunked prefill off, whole prompts run in prefill-only iterations;
* KV blocks of ``block_size`` tokens are allocated as sequences grow; when none is free
  the most recently admitted sequence is preempted and recomputed later (its blocks are
  freed and it returns to the head of the queue);
* with prefix caching, a prompt starting with a cached shared prefix reuses its blocks
  (:mod:`simplan.prefix_cache`): they are not prefilled again and not held twice;
  unreferenced cached blocks count as free and are evicted when an allocation needs them;
* in a disaggregated fleet (:mod:`simplan.disaggregation`) a ``prefill`` replica only
  computes prompts and hands each request to the fleet once its first token is sampled;
  a ``decode`` replica admits it with its prompt's KV cache already there;
* with speculative decoding a decoding sequence gains the expected accepted tokens per
  iteration (:mod:`simplan.kernels.speculative`), banked as a fraction between
  iterations so that tokens arrive whole and on average at that rate;
* ``static`` batching admits a new batch only when the previous one has fully finished,
  reserving each request's full KV up front; TensorRT-LLM's GUARANTEED_NO_EVICT policy
  (``reserve_whole_output``) reserves it too, but batches continuously.

Each iteration's duration comes from the compiled core (:func:`step_time_s`); runs of
decode-only iterations are planned in one call (:func:`decode_plan`) and cut short when a
new request arrives at an idle queue, so the loop never steps tokens one by one in Python.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy
from simplan.kernels.decode import decode_plan
from simplan.kernels.roofline import step_flops_and_bytes, step_time_s
from simplan.kernels.speculative import query_tokens, tokens_per_step
from simplan.kv_allocator import KVAllocator

if TYPE_CHECKING:
    from simplan.perf import Replica
    from simplan.recorder import Recorder

#: Longest run of decode iterations planned in one call.
MAX_PLAN_STEPS = 4096

# Replica lifecycle states (the fleet bills every state but OFF).
OFF, PROVISIONING, ACTIVE, DRAINING, FAILED = 0, 1, 2, 3, 4


class ReplicaEngine:
    """A replica's scheduler state and its simpy process (:meth:`run`)."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        replica: Replica,
        recorder: Recorder,
        *,
        max_num_seqs: int,
        max_num_batched_tokens: int,
        block_size: int,
        chunked_prefill: bool,
        static: bool,
        reserve_whole_output: bool = False,
        prefix_caching: bool = False,
        role: str = "both",
        pool: int = 0,
        state: int = ACTIVE,
    ) -> None:
        self.env = env
        self.index = index
        self.pool = pool
        self.replica = replica
        self.cfg = replica.cfg
        self.rec = recorder
        self.max_num_seqs = max_num_seqs
        self.budget = max_num_batched_tokens
        self.block = block_size
        self.chunked = chunked_prefill
        self.static = static
        # static batching and TensorRT-LLM's GUARANTEED_NO_EVICT reserve each request's KV
        # for its whole output at admission: a running request is never preempted
        self.reserve_whole = static or reserve_whole_output
        self.kv = KVAllocator.for_replica(
            self.cfg, block_size, max_num_seqs, prefix_caching=prefix_caching
        )
        self.total_blocks = self.kv.total_blocks
        self.prefix_caching = prefix_caching
        self.waiting: deque[int] = deque()
        # Running sequences live in fixed slots so a decode run updates numpy arrays.
        s = max_num_seqs
        self.slot_req = np.full(s, -1, dtype=np.int64)
        self.kv_tokens = np.zeros(s, dtype=np.int64)
        self.prompt_left = np.zeros(s, dtype=np.int64)  # tokens still to prefill
        self.decode_left = np.zeros(s, dtype=np.int64)  # tokens still to decode
        self.carry = np.zeros(s)  # fractional tokens banked (speculative decoding)
        self.per_step = float(tokens_per_step(self.cfg))
        self.verify_tokens = int(query_tokens(self.cfg))  # per decode, from the token budget
        self.admitted_at = np.zeros(s, dtype=np.int64)  # admission counter, for preemption order
        self._admissions = 0
        self.n_running = 0
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
        self.role = role
        self.on_prefilled: Callable[[ReplicaEngine, int], None] | None = None
        # Accumulators read by the time-series sampler.
        self.busy_s = 0.0
        self.busy_since: float | None = None
        self.flops = 0.0
        self.bytes = 0.0
        self.output_tokens = 0
        self.input_tokens = 0
        self.waiting_tokens = 0
        self.decode_steps = 0  # sequence-iterations of decoding (tokens per step = out / this)
        self.decoded_tokens = 0

    # --- what the router sees ----------------------------------------------------------

    def outstanding(self) -> int:
        return len(self.waiting) + self.n_running

    def kv_load(self) -> float:
        return (self.blocks_used() + self.waiting_tokens / self.block) / max(self.total_blocks, 1)

    def ever_admits(self, tokens: int) -> bool:
        """Whether a sequence of ``tokens`` could be admitted into this replica's cache."""
        return self.kv.ever_admits(tokens)

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
        return used + int(self._blocks_short(active, self._produced(active, steps)).sum())

    def holds_prefix(self, prefix: int) -> bool:
        """Whether this replica has ``prefix`` cached (the router's affinity test)."""
        return self.prefix_caching and self.kv.cache.holds(prefix)

    def cached_blocks(self) -> int:
        """KV blocks the prefix cache holds (the router's measure of room)."""
        return self.kv.cache.blocks

    def start(self) -> None:
        """Start (or restart) the replica's simpy process."""
        self.process = self.env.process(self.run())

    def evict(self) -> list[int]:
        """Drop every waiting and running request (failure, spot interruption).

        Returns their ids, oldest first, for the fleet to send elsewhere; their KV cache is
        lost, so they are recomputed from prompt plus tokens generated so far.
        """
        now = self.env.now
        running = [int(r) for r in self.slot_req[self.slot_req >= 0]]
        running.sort(key=lambda r: self.rec.arrival_s[r])
        reqs = running + list(self.waiting)
        self.waiting.clear()
        self.waiting_tokens = 0
        self.slot_req[:] = -1
        self.kv.clear()
        self.n_running = 0
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
        self.waiting.append(req)
        self.waiting_tokens += int(self.rec.input_tokens[req])
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

    # --- scheduling --------------------------------------------------------------------

    def _release(self, slot: int) -> None:
        """Free a slot and give its KV blocks back."""
        self.kv.release(slot)
        self.slot_req[slot] = -1
        self.n_running -= 1

    def _cache_prefixes(self, chunks: list[tuple[int, int]]) -> None:
        """Cache the shared prefixes the slots of ``chunks`` have just finished computing."""
        rec = self.rec
        for slot, _ in chunks:
            prefix = int(rec.prefix_id[int(self.slot_req[slot])])
            self.kv.cache_prefix(slot, prefix, rec.shared_prefix_tokens, int(self.kv_tokens[slot]))

    def _admit(self) -> None:
        rec = self.rec
        if self.static and self.n_running:
            return
        # vLLM (v1 scheduler) gives the running sequences their next token's slot before it
        # admits anyone, so those blocks are not free for a new prompt. Without this, a
        # prompt admitted into blocks the running batch needs is preempted on the next
        # iteration and re-admitted after it, over and over (thrash). Counted only once a
        # prompt would fit without it: a blocked queue is the common case under load.
        reserved = -1
        while self.waiting and self.n_running < self.max_num_seqs:
            req = self.waiting[0]
            prompt = int(rec.input_tokens[req]) + int(rec.generated[req])
            arrived = bool(rec.kv_ready[req])  # its prompt's KV came from a prefill replica
            if arrived:
                prompt = int(rec.input_tokens[req])
            need = prompt + (
                int(rec.output_tokens[req]) - int(rec.generated[req])
                if self.reserve_whole and self.role != "prefill"
                else 0
            )
            # a cached prefix (a shared one, or the session's conversation so far) is
            # reused, not prefilled nor held again; the prompt's last token is always
            # computed (it yields the first output token)
            kv = self.kv
            chain = []
            if self.prefix_caching and not arrived:
                chain = kv.reusable(int(rec.session_entry[req]), int(rec.prefix_id[req]))
            hit = min(sum(kv.cache.blocks_of(e) for e in chain), (prompt - 1) // self.block)
            if hit == 0:
                chain = []
            avail = kv.free_blocks + kv.cache.evictable_except(chain)
            blocks = kv.blocks_for(max(need, 1)) - hit
            if blocks + kv.watermark > avail:
                break
            if reserved < 0:
                decoding = np.flatnonzero((self.slot_req >= 0) & (self.prompt_left == 0))
                reserved = int(np.sum(self._blocks_short(decoding, self._produced(decoding, 1))))
            if blocks + kv.watermark + reserved > avail:
                break
            self.waiting.popleft()
            self.waiting_tokens -= int(rec.input_tokens[req])
            slot = int(np.flatnonzero(self.slot_req < 0)[0])
            kv.admit(slot, chain, int(rec.session_entry[req]), hit, blocks)
            if rec.scheduled_s[req] < 0:  # prompt tokens served from the cache, once
                self.input_tokens += hit * self.block
            self.slot_req[slot] = req
            self.kv_tokens[slot] = hit * self.block
            self.prompt_left[slot] = prompt - hit * self.block
            # the prefill yields the next token; the rest are decoded
            self.decode_left[slot] = int(rec.output_tokens[req]) - int(rec.generated[req]) - 1
            if arrived:  # the prompt is computed and its first token sampled already
                rec.kv_ready[req] = 0
                self.kv_tokens[slot] = prompt
                self.prompt_left[slot] = 0
                self.decode_left[slot] += 1
            self.carry[slot] = 0.0
            self._admissions += 1
            self.admitted_at[slot] = self._admissions
            self.n_running += 1
            if rec.scheduled_s[req] < 0:
                rec.scheduled_s[req] = self.env.now
                if hit:
                    rec.cached_tokens[req] = hit * self.block

    def _produced(self, slots: np.ndarray, steps: int) -> np.ndarray | int:
        """Tokens ``slots`` gain over ``steps`` decode iterations (decode.produced_tokens).

        Without speculation that is ``steps`` for each: a run or an iteration never goes
        past a sequence's last token (the hot path skips the arithmetic)."""
        if self.per_step == 1.0:
            return steps
        gained = np.floor(self.carry[slots] + steps * self.per_step).astype(np.int64)
        return np.minimum(gained, self.decode_left[slots])

    def _advance(self, slots: np.ndarray, steps: int) -> None:
        """Credit ``slots`` with the tokens ``steps`` decode iterations yield."""
        gained = self._produced(slots, steps)
        if self.per_step != 1.0:
            total = self.carry[slots] + steps * self.per_step
            self.carry[slots] = total - np.floor(total)
        self.kv_tokens[slots] += gained
        self.decode_left[slots] -= gained
        self.rec.generated[self.slot_req[slots]] += gained
        n = int(np.sum(gained)) if isinstance(gained, np.ndarray) else gained * int(slots.size)
        self.output_tokens += n
        self.decoded_tokens += n
        self.decode_steps += steps * int(slots.size)

    def _blocks_short(self, slots: np.ndarray, new_tokens: np.ndarray | int) -> np.ndarray:
        """Blocks each of ``slots`` lacks to hold ``new_tokens`` more tokens."""
        return self.kv.short(slots, self.kv_tokens[slots] + new_tokens)

    def _preempt_one(self) -> None:
        """Free the most recently admitted sequence; it is recomputed later (vLLM's RECOMPUTE)."""
        active = self.slot_req >= 0
        order = np.where(active, self.admitted_at, -1)
        slot = int(np.argmax(order))
        req = int(self.slot_req[slot])
        self._release(slot)
        self.rec.preemptions[req] += 1
        self.waiting.appendleft(req)
        self.waiting_tokens += int(self.rec.input_tokens[req])

    def _finish_slots(self, slots: np.ndarray) -> None:
        rec = self.rec
        now = self.env.now
        for slot in slots:
            req = int(self.slot_req[slot])
            rec.finish(req, now)
            if self.prefix_caching and rec.session_entry[req] >= 0:
                entry = int(rec.session_entry[req])
                self.kv.keep_conversation(int(slot), entry, int(self.kv_tokens[slot]))
            self._release(int(slot))

    def _grow_blocks(self, slots: np.ndarray, new_tokens: np.ndarray | int) -> bool:
        """Allocate blocks so ``slots`` hold ``new_tokens`` more tokens; False if none free."""
        return self.kv.grow(slots, self.kv_tokens[slots] + new_tokens)

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
            self._admit()
            if self.n_running == 0:
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
        while decoding.size and not self._grow_blocks(decoding, self._produced(decoding, 1)):
            self._preempt_one()
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
        if decoding.size:
            self._advance(decoding, 1)
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
                    rec.first_token_s[req] = now
        if self.prefix_caching:
            self._cache_prefixes(chunks)
        if self.role == "prefill":
            self._hand_off([slot for slot, _ in chunks if self.prompt_left[slot] == 0])
        self._finish_done()

    def _hand_off(self, slots: list[int]) -> None:
        """Release the computed prompts of a prefill replica to the fleet."""
        for slot in slots:
            req = int(self.slot_req[slot])
            self._release(slot)
            if self.on_prefilled is not None:
                self.on_prefilled(self, req)

    def _finish_done(self) -> None:
        """Release every sequence that has produced all its output tokens."""
        done = np.flatnonzero(
            (self.slot_req >= 0) & (self.prompt_left == 0) & (self.decode_left == 0)
        )
        if done.size:
            self._finish_slots(done)

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
            self._preempt_one()
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
        self.flops += flops
        self.bytes += nbytes
        # grow KV blocks for the tokens written
        self._grow_blocks_unchecked(active, self._produced(active, done))
        self._advance(active, done)
        self._finish_done()

    def _grow_blocks_unchecked(self, slots: np.ndarray, new_tokens: np.ndarray | int) -> None:
        self.kv.grow_planned(slots, self.kv_tokens[slots] + new_tokens, self.index)
