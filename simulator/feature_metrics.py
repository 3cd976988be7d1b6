"""The run figures that only some workloads and fleets have, computed from the records:
prefix caching, disaggregation's KV transfers, sessions, reasoning and speculative
decoding (:mod:`simplan.workload_figures` turns them into labelled rows)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from simplan.slo import summary_stats
from simplan.workload import reuses_prompts

if TYPE_CHECKING:
    from simplan.sim import SimResult


def feature_metrics(
    res: SimResult,
    table: dict[str, np.ndarray],
    in_window: np.ndarray,
    sampled_in_window: np.ndarray,
    kv_blocks_total: np.ndarray,
) -> dict[str, Any]:
    """The summary keys of the features the run's scenario uses (none for a plain run).

    ``table`` is the per-request table, ``in_window`` the requests completed in the
    measurement window, ``sampled_in_window`` the time-series samples inside it and
    ``kv_blocks_total`` each replica's KV blocks.
    """
    sc = res.scenario
    r = res.requests
    out: dict[str, Any] = {}
    if reuses_prompts(sc):
        # prompt tokens served from the prefix cache, and the KV the cache held
        prompt = r.column("input_tokens")[in_window].sum()
        cached = r.column("cached_tokens")[in_window].sum()
        out["prefix_cache_hit_rate"] = float(cached / prompt) if prompt > 0 else 0.0
        held = res.series.array("kv_blocks_cached")[sampled_in_window]
        out["prefix_cache_kv_share"] = (
            float((held / kv_blocks_total).mean()) if sampled_in_window.any() else 0.0
        )
    if sc.hardware.disaggregated:
        moved = r.column("kv_transfer_s")
        moved = moved[in_window & (moved >= 0)]
        out["kv_transfer_mean_s"] = float(moved.mean()) if moved.size else None
        out["kv_transfer_p95_s"] = float(np.percentile(moved, 95)) if moved.size else None
    if sc.workload.sessions is not None:
        entries = r.column("session_entry")
        out["sessions"] = int(np.unique(entries[entries >= 0]).size)
        out["turns_per_session"] = r.n / max(out["sessions"], 1)
    if sc.workload.reasoning_tokens is not None:
        # reasoning workloads: TTFT is the first (hidden) token, as engines count it; the
        # reader waits for the first visible one
        for stat, value in summary_stats(table["ttfvt_s"][in_window]).items():
            out[f"ttfvt_{stat}_s"] = value
        hidden = r.column("reasoning_tokens")[in_window]
        out["reasoning_tokens_per_request"] = float(hidden.mean()) if hidden.size else None
    spec = sc.engine.speculative
    steps = sum(e.decode_steps for e in res.engines)
    if spec is not None and spec.active and steps:
        # whole run: tokens decoded per sequence-iteration (the prefill's token excluded)
        out["spec_decode_tokens_per_step"] = sum(e.decoded_tokens for e in res.engines) / steps
    return out


def session_ramp_notes(res: SimResult, summary: dict[str, Any]) -> list[str]:
    """A note when the measurement window opens before sessions reach their steady
    state: the load builds up over a session's life, so a window opening earlier sees
    fewer later turns than the steady state has."""
    sc = res.scenario
    sessions = sc.workload.sessions
    if sessions is None:
        return []
    life = summary["turns_per_session"] * (
        (summary["e2e_s"]["mean"] or 0.0) + sessions.think_time_s
    )
    if sc.simulation.warmup_s >= life:
        return []
    return [
        f"sessions last about {life:,.0f} s; with warmup_s = "
        f"{sc.simulation.warmup_s:g} the window includes the ramp-up before later "
        f"turns arrive at full rate (measured {summary['requests_per_s']:.2f} of "
        f"{float(sc.workload.rate_per_s or 0.0):.2f} requests/s): set "
        f"[simulation] warmup_s >= {life:,.0f} for the steady state"
    ]
