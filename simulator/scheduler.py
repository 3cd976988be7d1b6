"""One replica's scheduler: its waiting queue, its running slots and their KV blocks.

The policy is vLLM's (the engine, :mod:`simplan.engine`, runs the iterations):

* FCFS admission while ``max_num_seqs`` and the free KV blocks allow, keeping the KV
  allocator's watermark free and the blocks the running batch needs for its next token
  (:meth:`Scheduler.admit`);
* a prompt's KV blocks are allocated at admission; reserving policies (``static``
  batching, TensorRT-LLM's GUARANTEED_NO_EVICT) allocate its whole output too;
* with prefix caching, the cached entries a prompt starts with are reused, not prefilled
  or held again (:mod:`simplan.kv_allocator`);
* when the KV cache runs out, the most recently admitted sequence is preempted and
  recomputed later (vLLM's RECOMPUTE): its blocks are freed and it returns to the head
  of the queue.

With ``admission = "sglang"`` the rules are SGLang's (v0.5.5, schedule_policy.py
PrefillAdder, scheduler.py, schedule_batch.py retract_decode): a new request is admitted
only if the cache holds its prompt and its whole remaining output (clipped at 4,096
tokens) beside a reservation of ``new_token_ratio`` times every running request's
remaining output; the ratio starts at 0.7, falls by (0.7 - 0.098) / 600 per decode
step to 0.098 and returns to 0.7 when the replica is idle. When decode runs out of
memory it retracts the request with the fewest output tokens (the longest prompt among
equals) and sets the ratio to (tokens decoded + 20 per request) / (output asked + 1) of
the batch that remains.

Running sequences live in fixed slots so that a decode run updates numpy arrays. The
scheduler knows nothing of simulated time beyond the ``now`` its caller passes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from simplan.kernels.speculative import query_tokens, tokens_per_step
from simplan.kv_allocator import KVAllocator

if TYPE_CHECKING:
    from simplan.perf import Replica
    from simplan.recorder import Recorder


#: SGLang's admission constants (v0.5.5 environ.py: SGLANG_INIT_NEW_TOKEN_RATIO 0.7,
#: SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR 0.14, SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS 600;
#: schedule_policy.py CLIP_MAX_NEW_TOKENS 4096).
SGLANG_INIT_RATIO = 0.7
SGLANG_MIN_RATIO = SGLANG_INIT_RATIO * 0.14
SGLANG_RATIO_DECAY = (SGLANG_INIT_RATIO - SGLANG_MIN_RATIO) / 600
SGLANG_CLIP = 4096


@dataclass(frozen=True)
class SchedulerSettings:
    """How a replica schedules: the engine's knobs, its admission rules and its role."""

    max_num_seqs: int
    max_num_batched_tokens: int
    block_size: int
    chunked_prefill: bool = True
    static: bool = False
    # TensorRT-LLM's GUARANTEED_NO_EVICT: the whole output's KV is allocated at admission
    reserve_whole_output: bool = False
    prefix_caching: bool = False
    # prefill replicas of a disaggregated fleet hand requests on after their prompt
    role: str = "both"
    admission: Literal["vllm", "sglang"] = "vllm"
    # vLLM V0's async output processing: a step's tokens reach the client while the next
    # step runs, so the first token arrives one iteration after its prefill
    output_lag: bool = False


class Scheduler:
    """The waiting queue and running slots of one replica (see the module docstring)."""

    def __init__(
        self, index: int, replica: Replica, recorder: Recorder, settings: SchedulerSettings
    ) -> None:
        max_num_seqs, block_size = settings.max_num_seqs, settings.block_size
        prefix_caching = settings.prefix_caching
        self.index = index
        self.replica = replica
        self.cfg = replica.cfg
        self.rec = recorder
        self.max_num_seqs = max_num_seqs
        self.budget = settings.max_num_batched_tokens
        self.block = block_size
        self.chunked = settings.chunked_prefill
        self.static = settings.static
        # static batching and TensorRT-LLM's GUARANTEED_NO_EVICT reserve each request's KV
        # for its whole output at admission: a running request is never preempted
        self.reserve_whole = settings.static or settings.reserve_whole_output
        self.sglang = settings.admission == "sglang"
        self.new_token_ratio = SGLANG_INIT_RATIO
        self.prefix_caching = prefix_caching
        self.role = settings.role
        self.output_lag = settings.output_lag
        self.lagged: list[int] = []  # first tokens sampled, not yet delivered (output_lag)
        self.kv = KVAllocator.for_replica(
            self.cfg, block_size, max_num_seqs, prefix_caching=prefix_caching
        )
        self.total_blocks = self.kv.total_blocks
        self.waiting: deque[int] = deque()
        self.waiting_tokens = 0
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
        # Token counters read by the time-series sampler.
        self.output_tokens = 0
        self.input_tokens = 0
        self.decode_steps = 0  # sequence-iterations of decoding (tokens per step = out / this)
        self.decoded_tokens = 0

    # --- what the router asks ----------------------------------------------------------

    def ever_admits(self, tokens: int) -> bool:
        """Whether a sequence of ``tokens`` could be admitted into this replica's cache."""
        return self.kv.ever_admits(tokens)

    def holds_prefix(self, prefix: int) -> bool:
        """Whether this replica has ``prefix`` cached (the router's affinity test)."""
        return self.kv.holds_prefix(prefix)

    def cached_blocks(self) -> int:
        """KV blocks the prefix cache holds (the router's measure of room)."""
        return self.kv.cached_blocks()

    # --- the queue ---------------------------------------------------------------------

    def enqueue(self, req: int) -> None:
        """Put a request at the back of the waiting queue."""
        self.waiting.append(req)
        self.waiting_tokens += int(self.rec.input_tokens[req])

    def drop_all(self) -> list[int]:
        """Forget every waiting and running request and the whole KV cache; return their
        ids, running ones first (oldest arrival first), then the queue in order."""
        running = [int(r) for r in self.slot_req[self.slot_req >= 0]]
        running.sort(key=lambda r: self.rec.arrival_s[r])
        reqs = running + list(self.waiting)
        self.waiting.clear()
        self.waiting_tokens = 0
        self.lagged.clear()
        self.slot_req[:] = -1
        self.kv.clear()
        self.n_running = 0
        return reqs

    def admit(self, now: float) -> None:
        """Admit waiting requests, in order, while a slot and their KV blocks are free."""
        rec = self.rec
        kv = self.kv
        if self.static and self.n_running:
            return
        if self.sglang and self.n_running == 0:
            self.new_token_ratio = SGLANG_INIT_RATIO  # reset when idle
        # vLLM (v1 scheduler) gives the running sequences their next token's slot before it
        # admits anyone, so those blocks are not free for a new prompt. Without this, a
        # prompt admitted into blocks the running batch needs is preempted on the next
        # iteration and re-admitted after it, over and over (thrash). Counted only once a
        # prompt would fit without it: a blocked queue is the common case under load.
        reserved = -1
        while self.waiting and self.n_running < self.max_num_seqs:
            req = self.waiting[0]
            generated = int(rec.generated[req])
            arrived = bool(rec.kv_ready[req])  # its prompt's KV came from a prefill replica
            # a preempted request recomputes what it had generated as part of its prompt
            prompt = int(rec.input_tokens[req]) + (0 if arrived else generated)
            need = prompt
            left = int(rec.output_tokens[req]) - generated
            if self.reserve_whole and self.role != "prefill":
                need += left
            # a cached prefix (a shared one, or the session's conversation so far) is
            # reused, not prefilled nor held again
            chain = []
            if not arrived:
                chain = kv.reusable(int(rec.session_entry[req]), int(rec.prefix_id[req]))
            hit = kv.reused_blocks(chain, prompt)
            if hit == 0:
                chain = []
            avail = kv.available_to(chain)
            blocks = kv.blocks_for(max(need, 1)) - hit
            # SGLang checks the whole remaining output but allocates the prompt only
            asked = (
                kv.blocks_for(need + min(max(left, 0), SGLANG_CLIP)) - hit
                if self.sglang and self.role != "prefill"  # a prefill replica never decodes
                else blocks
            )
            if asked + kv.watermark > avail:
                break
            if reserved < 0:
                reserved = self._reserved_blocks()
            if asked + kv.watermark + reserved > avail:
                break
            self.waiting.popleft()
            self.waiting_tokens -= int(rec.input_tokens[req])
            slot = int(np.flatnonzero(self.slot_req < 0)[0])
            kv.admit(slot, chain, int(rec.session_entry[req]), hit, blocks)
            if asked > blocks:  # SGLang: its output stays reserved for the rest of this round
                reserved += kv.blocks_for(min(max(left, 0), SGLANG_CLIP))
            first_time = rec.scheduled_s[req] < 0
            if first_time:  # prompt tokens served from the cache, counted once
                self.input_tokens += hit * self.block
            self.slot_req[slot] = req
            self.kv_tokens[slot] = hit * self.block
            self.prompt_left[slot] = prompt - hit * self.block
            # the prefill yields the next token; the rest are decoded
            self.decode_left[slot] = int(rec.output_tokens[req]) - generated - 1
            if arrived:  # the prompt is computed and its first token sampled already
                rec.kv_ready[req] = 0
                self.kv_tokens[slot] = prompt
                self.prompt_left[slot] = 0
                self.decode_left[slot] += 1
            self.carry[slot] = 0.0
            self._admissions += 1
            self.admitted_at[slot] = self._admissions
            self.n_running += 1
            if first_time:
                rec.scheduled_s[req] = now
                if hit:
                    rec.cached_tokens[req] = hit * self.block

    def _reserved_blocks(self) -> int:
        """Blocks admission leaves to the running batch: vLLM's next token of each
        decoding sequence, SGLang's new_token_ratio of each one's remaining output."""
        if not self.sglang:
            decoding = np.flatnonzero((self.slot_req >= 0) & (self.prompt_left == 0))
            return int(np.sum(self.blocks_short(decoding, self.produced(decoding, 1))))
        if self.role == "prefill":  # its requests decode elsewhere
            return 0
        running = np.flatnonzero(self.slot_req >= 0)
        ahead = np.ceil(self.new_token_ratio * np.minimum(self.decode_left[running], SGLANG_CLIP))
        return int(np.sum(self.blocks_short(running, ahead.astype(np.int64))))

    def preempt(self) -> None:
        """Free one running sequence, recomputed later (vLLM's RECOMPUTE) from the head of
        the queue: vLLM's most recently admitted, SGLang's fewest output tokens (the
        longest prompt among equals), after which SGLang resets its ratio from the rest."""
        rec = self.rec
        running = np.flatnonzero(self.slot_req >= 0)
        if self.sglang:
            reqs = self.slot_req[running]
            slot = int(running[np.lexsort((-rec.input_tokens[reqs], rec.generated[reqs]))[0]])
        else:
            slot = int(running[np.argmax(self.admitted_at[running])])
        req = int(self.slot_req[slot])
        self.release(slot)
        rec.preemptions[req] += 1
        self.waiting.appendleft(req)
        self.waiting_tokens += int(rec.input_tokens[req])
        if self.sglang:
            rest = self.slot_req[self.slot_req >= 0]
            decoded = float(np.sum(rec.generated[rest]))
            asked = float(np.sum(rec.output_tokens[rest]))
            self.new_token_ratio = min(1.0, (decoded + 20.0 * rest.size) / (asked + 1.0))

    def release(self, slot: int) -> None:
        """Free a slot and give its KV blocks back."""
        self.kv.release(slot)
        self.slot_req[slot] = -1
        self.n_running -= 1

    # --- tokens and blocks -------------------------------------------------------------

    def produced(self, slots: np.ndarray, steps: int) -> np.ndarray | int:
        """Tokens ``slots`` gain over ``steps`` decode iterations (decode.produced_tokens).

        Without speculation that is ``steps`` for each: a run or an iteration never goes
        past a sequence's last token (the hot path skips the arithmetic)."""
        if self.per_step == 1.0:
            return steps
        gained = np.floor(self.carry[slots] + steps * self.per_step).astype(np.int64)
        return np.minimum(gained, self.decode_left[slots])

    def advance(self, slots: np.ndarray, steps: int) -> None:
        """Credit ``slots`` with the tokens ``steps`` decode iterations yield."""
        gained = self.produced(slots, steps)
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
        if self.sglang:
            self.new_token_ratio = max(
                self.new_token_ratio - steps * SGLANG_RATIO_DECAY, SGLANG_MIN_RATIO
            )

    def blocks_short(self, slots: np.ndarray, new_tokens: np.ndarray | int) -> np.ndarray:
        """Blocks each of ``slots`` lacks to hold ``new_tokens`` more tokens."""
        return self.kv.short(slots, self.kv_tokens[slots] + new_tokens)

    def grow(self, slots: np.ndarray, new_tokens: np.ndarray | int) -> bool:
        """Allocate blocks so ``slots`` hold ``new_tokens`` more tokens; False if none free."""
        return self.kv.grow(slots, self.kv_tokens[slots] + new_tokens)

    def grow_planned(self, slots: np.ndarray, new_tokens: np.ndarray | int) -> None:
        """Allocate the blocks a decode run planned for ``new_tokens`` more tokens."""
        self.kv.grow_planned(slots, self.kv_tokens[slots] + new_tokens, self.index)

    def cache_prefixes(self, chunks: list[tuple[int, int]]) -> None:
        """Cache the shared prefixes the slots of ``chunks`` have just finished computing."""
        if not self.prefix_caching:
            return
        rec = self.rec
        for slot, _ in chunks:
            prefix = int(rec.prefix_id[int(self.slot_req[slot])])
            self.kv.cache_prefix(slot, prefix, rec.shared_prefix_tokens, int(self.kv_tokens[slot]))

    def finish_done(self, now: float) -> None:
        """Release every sequence that has produced all its output tokens."""
        done = np.flatnonzero(
            (self.slot_req >= 0) & (self.prompt_left == 0) & (self.decode_left == 0)
        )
        rec = self.rec
        for slot in done:
            req = int(self.slot_req[slot])
            rec.finish(req, now)
            if self.prefix_caching and rec.session_entry[req] >= 0:
                entry = int(rec.session_entry[req])
                self.kv.keep_conversation(int(slot), entry, int(self.kv_tokens[slot]))
            self.release(int(slot))
