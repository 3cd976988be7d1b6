"""The run figures that only some workloads and fleets have (speculative decoding, prefix
caching, sessions, disaggregation, reasoning), as labelled rows: one definition for the
console and the HTML report, each with its own number formatting."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Fmt = Callable[[Any], str]


def _has(s: dict[str, Any], key: str) -> bool:
    """Whether the summary has a number for ``key`` (a file stores a missing one as NaN)."""
    v = s.get(key)
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def figure_rows(s: dict[str, Any], duration: Fmt, share: Fmt) -> list[tuple[str, str]]:
    """(label, value) rows of the figures a run's summary ``s`` has, formatting seconds
    with ``duration`` and fractions with ``share``."""
    rows: list[tuple[str, str]] = []
    if _has(s, "spec_decode_tokens_per_step"):
        rows.append(
            ("speculative decoding: tokens per step", f"{s['spec_decode_tokens_per_step']:.2f}")
        )
    if _has(s, "kv_transfer_mean_s"):
        rows.append(
            (
                "KV transfer prefill -> decode (mean / p95)",
                f"{duration(s['kv_transfer_mean_s'])} / {duration(s['kv_transfer_p95_s'])}",
            )
        )
    if _has(s, "prefix_cache_hit_rate"):
        rows.append(
            (
                "prefix cache: prompt tokens served / KV it holds",
                f"{share(s['prefix_cache_hit_rate'])} / {share(s['prefix_cache_kv_share'])}",
            )
        )
    if _has(s, "sessions"):
        rows.append(
            ("sessions / turns per session", f"{s['sessions']:,} / {s['turns_per_session']:.1f}")
        )
    if _has(s, "reasoning_tokens_per_request"):
        rows.append(
            ("hidden reasoning tokens per request", f"{s['reasoning_tokens_per_request']:,.0f}")
        )
    return rows


def visible_token_row(s: dict[str, Any], duration: Fmt) -> list[str] | None:
    """The latency row of the first visible token (reasoning workloads), or None."""
    if not _has(s, "ttfvt_mean_s"):
        return None
    stats = ("mean", "p50", "p90", "p95", "p99")
    return ["first visible token", *(duration(s[f"ttfvt_{k}_s"]) for k in stats)]
