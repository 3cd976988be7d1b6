"""What a run's notes say when the fleet did not simply keep up: rejected requests,
preemptions, and whether (and at what rate) a saturated fleet fell behind its load.

:func:`simplan.metrics.summarize` decides when each note applies; the wording and the
tests of saturation live here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from simplan.kernels import layout as c
from simplan.recorder import COMPLETED

if TYPE_CHECKING:
    from simplan.sim import SimResult


def rejection_note(r: Any) -> str:
    """How many requests the fleet turned away, and why (most common reason first)."""
    codes = r.column("reject_reason")
    counts = [(int((codes == i + 1).sum()), why) for i, why in enumerate(r.reject_reasons)]
    reasons = "; ".join(f"{why} ({n:,})" for n, why in sorted(counts, reverse=True) if n)
    n = int(sum(c for c, _ in counts))
    return (
        f"{n:,} of {r.n:,} requests ({n / max(r.n, 1):.0%}) were rejected and never served: "
        f"{reasons}. Their tokens count in the offered volume but not in throughput"
    )


def preemption_note(res: SimResult) -> str:
    """How much preemption happened and what it cost, as vLLM's log warns of it."""
    counts = res.requests.column("preemptions")
    prompts = float(res.requests.column("input_tokens").sum())
    prefilled = float(sum(e.input_tokens for e in res.engines))
    extra = (prefilled - prompts) / prompts if prompts > 0 else 0.0
    return (
        f"{int(counts.sum()):,} preemptions ({int((counts > 0).sum()):,} requests, at most "
        f"{int(counts.max())} times one request): the KV cache was full, and recomputing "
        f"the preempted sequences added {max(extra, 0.0):.0%} to the prompt work; more KV "
        "(engine.gpu_memory_utilization, a smaller weight format, more tensor parallelism) "
        "or a lower engine.max_num_seqs avoids it"
    )


def attention_dp_note(res: SimResult) -> str | None:
    """A caveat for data-parallel attention replicas whose prompts outgrow an even share
    of the step's token budget: the model spreads prompt tokens over the ranks, while an
    engine prefills each prompt on the rank that holds its request (docs/model.md)."""
    prompts = res.requests.column("input_tokens")
    mean_prompt = float(prompts.mean()) if prompts.size else 0.0
    for pool in res.pools:
        cfg = pool.replica.cfg
        ranks = cfg[c.TP]
        if cfg[c.ATT_DP] > 0.0 and ranks > 1.0 and mean_prompt > cfg[c.MAX_BATCHED_TOKENS] / ranks:
            return (
                f"attention DP: simplan spreads each step's prompt tokens evenly over the "
                f"{ranks:.0f} ranks, but an engine prefills a prompt on the one rank that holds "
                f"its request while the other ranks' decodes wait; with prompts of "
                f"{mean_prompt:,.0f} tokens on average, TTFT and TPOT here are optimistic "
                "(docs/model.md, 'Where attention DP runs a prompt')"
            )
    return None


def falls_behind(res: SimResult, start: float, end: float) -> bool:
    """Whether the fleet completes clearly fewer requests than arrive in the window.

    Completions are counted by finish time, whenever the request arrived: in a steady
    state they match the arrivals (each is an arrival shifted by its latency), while a
    fleet that falls behind completes fewer, even when its backlog drains after the
    arrivals stop (which counting completions by arrival time misses). The window starts
    one median latency in, so completions of earlier arrivals stand in for those that
    finish after it; a window shorter than four median latencies cannot tell (unless most
    requests queue for over a quarter of it), and a shortfall within Poisson noise (three
    standard deviations) does not count.
    """
    r = res.requests
    finish = r.column("finish_s")
    arrival = r.column("arrival_s")
    done = r.column("status") == COMPLETED
    if not done.any():
        return False
    sched = r.column("scheduled_s")
    waited = (arrival >= start) & (arrival <= end) & (sched >= 0)
    if waited.any() and np.median(sched[waited] - arrival[waited]) > 0.25 * (end - start):
        return True  # most requests queue for over a quarter of the window: a backlog
    latency = float(np.median(finish[done] - arrival[done]))
    if end - start < 4.0 * latency:
        return False
    s0 = max(start, latency)
    arrived = int(((arrival >= s0) & (arrival <= end)).sum())
    completed = int((done & (finish >= s0) & (finish <= end)).sum())
    shortfall = arrived - completed
    return shortfall > 0.05 * arrived and shortfall > 3.0 * math.sqrt(max(arrived, 1))


def sustained_rate(res: SimResult, start: float) -> float:
    """Completions per second from ``start`` to the end of the run (the saturated rate)."""
    finish = res.requests.column("finish_s")
    done = (res.requests.column("status") == COMPLETED) & (finish >= start)
    span = res.end_s - start
    return float(done.sum()) / span if span > 0 else 0.0
