"""The fast model's latency percentiles (`kernels/tail.py`): its numerical pieces against
scipy references, its limits and orderings as properties, and its accuracy against the
simulation on configurations the fit never saw (a looser bound than the benchmark's
target: `benchmarks/bench_tail.py` measures the real figure).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.optimize import brentq
from simplan import latency_model as lm
from simplan.fit import replica_cfg
from simplan.kernels import layout as c
from simplan.kernels import mixture, prompts, tail
from simplan.kernels.roofline import step_time_s
from simplan.perf import replica_from_ids

SLOW = settings(max_examples=30, deadline=None, derandomize=True, database=None)
CFG_8B = replica_from_ids("llama-3.1-8b", "h100-sxm", "fp16", "fp16", tp=1).cfg
CFG_70B = replica_from_ids("llama-3.1-70b", "a100-sxm4-80gb", "int4-awq", "fp16", tp=2).cfg


def _quantiles(cfg: np.ndarray, rate: float, i_pts: np.ndarray, o_pts: np.ndarray) -> np.ndarray:
    out = np.empty(tail.COLUMNS)
    tail.latency_quantiles(cfg, rate, i_pts, o_pts, 1.0, 1.0, *lm.params(), out)
    return out.reshape(3, tail.STATS)  # rows ttft, tpot, e2e; columns mean, p50 ... p99


@SLOW
@given(
    shapes=st.lists(st.floats(0.7, 60.0), min_size=1, max_size=4),
    scales=st.lists(st.floats(0.01, 10.0), min_size=4, max_size=4),
    q=st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_mixture_quantile_matches_scipy_gamma(shapes, scales, q) -> None:  # type: ignore[no-untyped-def]
    n = len(shapes)
    k, th = np.array(shapes), np.array(scales[:n])
    w = np.arange(1.0, n + 1)
    w /= w.sum()
    means, variances = k * th, k * th * th

    def cdf(x: float) -> float:
        return float(np.sum(w * stats.gamma.cdf(x, k, scale=th))) - q

    want = brentq(cdf, 0.0, float(np.max(means + 20 * np.sqrt(variances))))
    got = mixture.mixture_quantile(q, means, variances, w, n)
    # Wilson-Hilferty's cube root: within 2% from shape 3 on, 7% down to shape 0.7
    assert got == pytest.approx(want, rel=0.02 if k.min() >= 3 else 0.07)


@pytest.mark.parametrize("servers", [1, 2, 5, 16, 40])
def test_erlang_c_matches_its_closed_form(servers: int) -> None:
    for load in np.linspace(0.05, 0.98, 7) * servers:
        a = float(load)
        tail_term = a**servers / math.factorial(servers) * servers / (servers - a)
        head = sum(a**j / math.factorial(j) for j in range(servers))
        assert tail.erlang_c(servers, a) == pytest.approx(tail_term / (head + tail_term), rel=1e-9)
    assert tail.erlang_c(servers, servers * 1.01) == 1.0
    assert tail.erlang_c(servers, 0.0) == 0.0


@SLOW
@given(
    cfg=st.sampled_from([CFG_8B, CFG_70B]),
    i_len=st.sampled_from([100.0, 800.0, 3000.0]),
    o_len=st.sampled_from([20.0, 250.0, 1000.0]),
    spread=st.floats(0.0, 1.2),
    load=st.floats(0.05, 0.9),
)
def test_percentiles_are_ordered_and_grow_with_load(cfg, i_len, o_len, spread, load) -> None:  # type: ignore[no-untyped-def]
    q = (np.arange(16) + 0.5) / 16
    z = stats.norm.ppf(q)
    i_pts = np.maximum(1.0, i_len * np.exp(spread * z - spread**2 / 2))
    o_pts = np.maximum(1.0, o_len * np.exp(spread * z - spread**2 / 2))
    sh = lm.Shapes(
        np.array([i_pts.mean()]), np.array([o_pts.mean()]), i_pts[None], o_pts[None], np.ones(1)
    )
    r_max = float(lm.capacity(cfg[None, :], sh)[0, 1])
    lo, hi = (
        lm.at_rate(cfg[None, :], sh, np.array([f * load * r_max]), np.array([r_max]))[0]
        for f in (0.5, 1.0)
    )
    for op in (lo, hi):
        lat = op[3:].reshape(3, tail.STATS)
        finite = np.isfinite(lat)
        assert finite.all() or op[2] > 0.5 or not np.isfinite(lat[0]).any()
        if finite.all():
            assert np.all(np.diff(lat[:, 1:], axis=1) >= -1e-12)  # p50 <= p90 <= p95 <= p99
            assert np.all(lat > 0)
    # more load never shortens a percentile (both finite)
    a, b = lo[3:], hi[3:]
    both = np.isfinite(a) & np.isfinite(b)
    assert np.all(b[both] >= a[both] * (1 - 0.02))  # up to 2%: the mixtures are approximate


def test_an_idle_replica_answers_in_its_own_step_times() -> None:
    """At vanishing load with fixed lengths: TTFT is the prompt's iteration beside one
    decode (plus at most one decode iteration of waiting), TPOT the decode step, and
    nothing spreads."""
    i_len, o_len = 1000.0, 200.0
    lat = _quantiles(CFG_8B, 1e-6, np.full(16, i_len), np.full(16, o_len))
    ctx = i_len + o_len / 2
    decode = step_time_s(CFG_8B, 0.0, 0.0, 0.0, 1.0, ctx)
    prompt = step_time_s(CFG_8B, i_len, i_len * (i_len / 2 + 0.5), 1.0, 1.0, ctx)
    ttft, tpot, e2e = lat
    assert prompt * (1 - 1e-4) <= ttft[1] <= prompt + decode  # quantiles to 1e-5
    assert tpot[1] == pytest.approx(decode, rel=1e-3)
    assert ttft[4] == pytest.approx(ttft[1], rel=0.05) and tpot[4] == pytest.approx(
        tpot[1], rel=1e-3
    )
    assert e2e[0] == pytest.approx(ttft[0] + (o_len - 1) * tpot[0], rel=1e-3)


def test_an_output_lag_delays_the_first_token_by_one_iteration() -> None:
    """vLLM V0 hands the first token over while the next step runs: at vanishing load
    TTFT grows by one decode iteration, and TPOT is untouched."""
    from simplan.kernels import layout as c

    i_pts, o_pts = np.full(16, 1000.0), np.full(16, 200.0)
    lagged = CFG_8B.copy()
    lagged[c.OUTPUT_LAG] = 1.0
    now, late = _quantiles(CFG_8B, 1e-6, i_pts, o_pts), _quantiles(lagged, 1e-6, i_pts, o_pts)
    decode = step_time_s(CFG_8B, 0.0, 0.0, 0.0, 1.0, 1100.0)
    assert late[0, 1] - now[0, 1] == pytest.approx(decode, rel=0.02)
    assert late[1] == pytest.approx(now[1], rel=1e-9)
    # as in the simulation, only the first token waits: the finish does not move
    assert late[2, 0] == pytest.approx(now[2, 0], rel=1e-9)


def test_longer_prompts_and_outputs_widen_the_tails() -> None:
    fixed = _quantiles(CFG_70B, 0.3, np.full(16, 1200.0), np.full(16, 300.0))
    z = stats.norm.ppf((np.arange(16) + 0.5) / 16)
    spread = np.exp(0.7 * z - 0.245)
    varied = _quantiles(CFG_70B, 0.3, 1200.0 * spread, 300.0 * spread)
    # same means within a few percent, but lognormal lengths put far more in the tail
    assert varied[0, 4] > 1.3 * fixed[0, 4]  # TTFT p99
    assert varied[2, 4] > 1.5 * fixed[2, 4]  # e2e p99


@pytest.mark.parametrize(
    ("model", "gpu", "weights", "tp", "inp", "out", "load"),
    [
        ("llama-3.1-8b", "l40s", "fp8", 1, (700, 500), (250, 150), 0.6),
        ("qwen2.5-32b", "h100-sxm", "fp8", 2, (1500, 900), (200, 120), 0.75),
    ],
)
def test_fast_percentiles_track_the_simulation(model, gpu, weights, tp, inp, out, load) -> None:  # type: ignore[no-untyped-def]
    """Held-out configurations (not in tools/fit_tail.py's design): p95 TTFT and TPOT within
    35% of one simulation's (whose own seed-to-seed spread is about 6% median, 22% p90)."""
    raw = {
        "name": "held out",
        "model": {"name": model, "weights": weights},
        "hardware": {"gpu": gpu, "tp": tp, "replicas": 1},
        "workload": {
            "rate_per_s": 1.0,
            "duration_s": 60,
            "input_tokens": {
                "distribution": "lognormal",
                "mean": inp[0],
                "std": inp[1],
                "max": 16000,
            },
            "output_tokens": {
                "distribution": "lognormal",
                "mean": out[0],
                "std": out[1],
                "max": 4000,
            },
        },
    }
    fast, sim = _fast_and_simulated_p95(raw, load)
    for metric in ("ttft", "tpot"):
        assert fast[metric] == pytest.approx(sim[metric], rel=0.35), (metric, fast, sim)


def _fast_and_simulated_p95(raw: dict, load: float) -> tuple[dict[str, float], dict[str, float]]:
    """p95 TTFT and TPOT of the fast model and of one simulation (seed 1, two-minute
    warm-up) at ``load`` times the fast model's capacity."""
    from simplan.metrics import measurement_window, request_table
    from simplan.scenario import scenario_from_dict, trial_scenario
    from simplan.sim import simulate
    from simplan.verify import verification_overrides

    sc = scenario_from_dict(raw, source="held out")
    cfg, _ = replica_cfg(sc)
    sh = lm.shapes([sc])
    r_max = lm.capacity(cfg[None, :], sh)[:, 1]
    rate = load * float(r_max[0])
    op = lm.at_rate(cfg[None, :], sh, np.array([rate]), r_max)[0]
    res = simulate(trial_scenario(raw, verification_overrides({}, 1, rate, 1, 120.0), "held out"))
    table = request_table(res)
    start, end = measurement_window(res)
    arr = res.requests.column("arrival_s")
    keep = (arr >= start) & (arr < end)
    fast = {m: float(op[lm.column(f"{m}_p95_s")]) for m in ("ttft", "tpot")}
    sim = {m: float(np.nanpercentile(table[f"{m}_s"][keep], 95)) for m in ("ttft", "tpot")}
    return fast, sim


def test_a_short_decode_life_is_usually_free_of_prompts() -> None:
    """Four decode iterations while 3,000-token prompts arrive about once a second (rho_p
    0.15): 94% of requests see no prompt join their decode life, so TPOT's median is a
    decode-only iteration, and its p95 is a request that one prompt joined, a lump of P
    spread over four tokens. One gamma of the same mean and variance put that p95 at
    half the lump (0.0134 s against 0.0193 s)."""
    rate, steps = 2.0, 4.0
    i_pts, o_pts = np.full(16, 3000.0), np.full(16, steps + 1.0)
    q = _quantiles(CFG_8B, rate, i_pts, o_pts)
    b, tau, _ = tail.lumpy_operating_point(CFG_8B, rate, i_pts, o_pts, 1.0)
    bb = max(b, 1.0)
    ctx = bb * (3000.0 + (steps + 1.0) / 2.0)
    tau0 = step_time_s(CFG_8B, 0.0, 0.0, 0.0, bb, ctx)
    lump = step_time_s(CFG_8B, 3000.0, 3000.0 * 1500.5, 1.0, bb, ctx) - tau0
    assert math.exp(-rate * steps * tau) > 0.9  # the regime this test is about
    tpot_p50, tpot_p95 = q[1, 1], q[1, 3]
    assert tpot_p50 == pytest.approx(tau0, rel=0.05)
    assert tpot_p95 > tau0 + 0.5 * lump / steps


def test_long_prompts_with_short_speculative_answers_track_the_simulation() -> None:
    """3,000-token prompts, answers of about 35 tokens drafted 4 at a time: a request decodes
    in a handful of iterations, and the prompts that arrived while its own prompt ran
    (queued behind it) ride in them. Without that backlog, and with (O - 1) / E iterations
    instead of whole-token rounding, the fast p95 TPOT was a fifth of the simulation's."""
    raw = {
        "name": "held out",
        "model": {"name": "llama-3.1-8b", "weights": "fp8"},
        "hardware": {"gpu": "h100-sxm", "tp": 1, "replicas": 1},
        "engine": {
            "speculative": {
                "method": "eagle3",
                "num_speculative_tokens": 4,
                "acceptance_rate": 0.75,
            }
        },
        "workload": {
            "rate_per_s": 1.0,
            "duration_s": 60,
            "input_tokens": 3000,
            "output_tokens": {"distribution": "lognormal", "mean": 35, "std": 36, "max": 4000},
        },
    }
    fast, sim = _fast_and_simulated_p95(raw, 0.45)
    assert fast["tpot"] == pytest.approx(sim["tpot"], rel=0.35), (fast, sim)


def test_prompts_riding_together_cost_less_each_than_alone() -> None:
    """An iteration's time is not additive in its prompts (fixed costs and the weight read
    are paid once): the share each of m prompts adds falls with m, is 1 for a lone prompt,
    and the budget caps how many can ride together."""
    i_pts = np.full(4, 131.0)
    bb, ctx = 64.0, 64.0 * 200.0
    tau0 = step_time_s(CFG_8B, 0.0, 0.0, 0.0, bb, ctx)
    shares = [prompts.batching_share(CFG_8B, i_pts, m, bb, ctx, tau0) for m in (0.5, 1, 2, 8, 32)]
    assert shares[0] == shares[1] == 1.0
    assert all(b < a for a, b in itertools.pairwise(shares[1:]))
    # m prompts of 131 tokens cost what one iteration carrying all of them adds
    one = step_time_s(CFG_8B, 131.0, 131.0 * 66.0, 1.0, bb, ctx) - tau0
    eight = step_time_s(CFG_8B, 8 * 131.0, 8 * 131.0 * 66.0, 8.0, bb, ctx) - tau0
    assert shares[3] == pytest.approx(eight / (8 * one), rel=1e-9)
    # no more prompts share an iteration than its token budget holds
    budget = CFG_8B[c.MAX_BATCHED_TOKENS] - bb
    capped = prompts.batching_share(CFG_8B, i_pts, 1e6, bb, ctx, tau0)
    assert capped == prompts.batching_share(CFG_8B, i_pts, budget / 131.0, bb, ctx, tau0)
