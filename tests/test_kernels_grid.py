"""The fast model's kernels (`kernels/grid.py`) and decode planner (`kernels/decode.py`)
against numpy references written differently from the compiled loops.

* :func:`decode_plan` steps a batch one token at a time; the reference computes each
  iteration's blocks in closed form (``ceil((kv + j) / block) - blocks``) and its time with
  the numpy roofline of ``reference.py``.
* The grid kernels solve fixed points by Aitken extrapolation and bisection; the
  references check that their answers *solve the equations* the module docstring states,
  evaluated with the numpy roofline: ``tau = step(rate*I*tau, B)``, ``B = rate*O*tau``,
  ``rate_max * O * tau = B_limit`` at the boundary; the table interpolation against
  ``np.interp``, and the binding objective at the largest rate under an SLO.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from simplan import latency_model as lm
from simplan.engine_knobs import EngineKnobs
from simplan.kernels import layout as c
from simplan.kernels import tail
from simplan.kernels.decode import decode_plan
from simplan.kernels.grid import (
    LATENCY,
    batch_limit,
    interpolate_points,
    iteration_time,
    max_rate,
    operating_point,
    saturation_kinds,
)
from simplan.kernels.speculative import tokens_per_step
from simplan.perf import replica_from_ids
from simplan.prefix_model import PromptReuse
from simplan.speculative import SpecKnobs

CASES = {
    "8b-a100": ("llama-3-8b", "a100-sxm4-80gb", "fp16", 1),
    "70b-int4-h100": ("llama-3.1-70b", "h100-sxm", "int4-awq", 2),
    "mixtral-fp8-h100": ("mixtral-8x7b", "h100-sxm", "fp8", 2),
    "deepseek-v3-int4-h200": ("deepseek-v3", "h200", "int4-awq", 8),
}
CFGS = {
    name: replica_from_ids(model, gpu, weights, "fp16", tp=tp).cfg
    for name, (model, gpu, weights, tp) in CASES.items()
}
# speculative decoding: 2.53 tokens per iteration (EAGLE, k = 3, a = 0.7)
CFGS["8b-eagle-h100"] = replica_from_ids(
    "llama-3.1-8b", "h100-sxm", engine=EngineKnobs(speculative=SpecKnobs("eagle", 3, 0.7))
).cfg
# prefix caching: 48 tokens of every prompt reused, two prefixes pinned
CFGS["8b-prefix-h100"] = replica_from_ids(
    "llama-3.1-8b",
    "h100-sxm",
    engine=EngineKnobs(prompt_reuse=PromptReuse(48, (0.5, 0.5))),
).cfg
SLOW = settings(max_examples=25, deadline=None, derandomize=True, database=None)


def ref_step(
    cfg: np.ndarray, pre_tokens: float, pairs: float, pre_seqs: float, b: float, ctx: float
) -> float:
    return float(ref.step_time(cfg[None, :], pre_tokens, pairs, pre_seqs, b, ctx)[0])


# --- decode_plan ---------------------------------------------------------------------------


def decode_plan_reference(
    cfg: np.ndarray,
    kv: np.ndarray,
    blocks: np.ndarray,
    left: np.ndarray,
    carry: np.ndarray,
    free_blocks: int,
    block: int,
    cap: int,
) -> tuple[int, int, np.ndarray]:
    """(steps, blocks used, cumulative end times) from closed-form token and block counts:
    after j iterations a sequence holds min(floor(carry + j E), left) more tokens."""
    per_step = float(tokens_per_step(cfg))
    j = np.arange(0, cap + 1)[:, None]
    gained = np.minimum(np.floor(carry[None, :] + j * per_step).astype(np.int64), left[None, :])
    done = (gained >= left[None, :]).any(axis=1)
    limit = int(min(cap, np.argmax(done) if done.any() else cap))
    new_blocks = np.maximum(-(-(kv[None, :] + gained) // block) - blocks[None, :], 0).sum(axis=1)
    fits = new_blocks[1 : limit + 1] <= free_blocks  # monotone in j
    steps = int(fits.sum())
    n = float(kv.size)
    times = [
        ref_step(cfg, 0.0, 0.0, 0.0, n, float((kv + gained[s - 1]).sum()) + n)
        for s in range(1, steps + 1)
    ]
    used = int(new_blocks[steps]) if steps else 0
    return steps, used, np.cumsum(times)


@st.composite
def decoding_batch(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 40))
    block = draw(st.sampled_from([1, 16, 256]))
    kv = np.array(draw(st.lists(st.integers(1, 20_000), min_size=n, max_size=n)), dtype=np.int64)
    slack = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    blocks = -(-kv // block) + slack  # at least what the tokens use, sometimes spare blocks
    left = np.array(draw(st.lists(st.integers(1, 3000), min_size=n, max_size=n)), dtype=np.int64)
    free = draw(st.integers(0, 400))
    cap = draw(st.sampled_from([1, 64, 4096]))
    carry = np.array(draw(st.lists(st.floats(0, 0.99), min_size=n, max_size=n)))
    return kv, blocks, left, carry, free, block, cap


def _iterations(cfg: np.ndarray, o_len: float) -> float:
    """Iterations a request spends in the batch: the one that ends its prompt, then its
    O - 1 tokens at E per iteration, in whole tokens (half an iteration's rounding,
    1 - 1/E, on average; at least one iteration)."""
    e = float(tokens_per_step(cfg))
    if e <= 1.0:
        return o_len
    return 1.0 + max((o_len - 1.0) / e + 0.5 * (1.0 - 1.0 / e), 1.0)


@SLOW
@given(batch=decoding_batch(), case=st.sampled_from(sorted(CFGS)))
def test_decode_plan_matches_a_closed_form_reference(batch, case) -> None:  # type: ignore[no-untyped-def]
    kv, blocks, left, carry, free, block, cap = batch
    cfg = CFGS[case]
    if tokens_per_step(cfg) == 1.0:
        carry = np.zeros_like(carry)  # without speculation nothing is ever banked
    out = np.full(cap, np.nan)
    steps, used, _, _ = decode_plan(cfg, kv, blocks, left, carry, free, block, cap, out)
    want_steps, want_used, want_t = decode_plan_reference(
        cfg, kv, blocks, left, carry, free, block, cap
    )
    assert steps == want_steps
    assert used == want_used <= free
    np.testing.assert_allclose(out[:steps], want_t, rtol=1e-9)


def test_decode_plan_stops_at_the_first_completion_and_when_blocks_run_out() -> None:
    cfg = CFGS["8b-a100"]
    kv = np.array([16, 100], dtype=np.int64)
    blocks = np.array([1, 7], dtype=np.int64)  # 16 and 112 tokens of room
    none = np.zeros(2)  # no fractional tokens banked
    out = np.empty(4096)
    # no free block: the first sequence is full, so not even one iteration fits
    assert decode_plan(cfg, kv, blocks, np.array([50, 50]), none, 0, 16, 4096, out)[0] == 0
    # one free block: the first sequence takes it at once and fills it after 16 tokens;
    # the second needs its next block at token 13
    assert decode_plan(cfg, kv, blocks, np.array([50, 50]), none, 1, 16, 4096, out)[:2] == (12, 1)
    # plenty of blocks: the shortest sequence's completion ends the plan
    assert decode_plan(cfg, kv, blocks, np.array([50, 9]), none, 100, 16, 4096, out)[0] == 9


# --- the fast model's fixed points ---------------------------------------------------------


LENGTHS = st.tuples(st.sampled_from([64.0, 512.0, 3000.0]), st.sampled_from([16.0, 256.0, 1500.0]))


@SLOW
@given(case=st.sampled_from(sorted(CFGS)), lengths=LENGTHS, load=st.floats(0.05, 0.95))
def test_the_operating_point_solves_both_fixed_point_equations(case, lengths, load) -> None:  # type: ignore[no-untyped-def]
    cfg = CFGS[case]
    i_len, o_len = lengths
    r_max = max_rate(cfg, i_len, o_len)
    assert r_max > 0
    rate = load * r_max
    b, tau, saturated = operating_point(cfg, rate, i_len, o_len, r_max)
    assert saturated == 0.0
    b_eff = max(b, 1.0)
    arriving = rate * tau
    # a prompt's first `hit` tokens come from the prefix cache: the rest is prefilled,
    # attending to them
    hit = float(ref.reused_prompt(cfg[None, :], i_len)[0])
    new = i_len - hit
    want_tau = ref_step(
        cfg,
        arriving * new,
        arriving * new * (hit + (new + 1) / 2),
        arriving,
        b_eff,
        b_eff * (i_len + o_len / 2),
    )
    assert tau == pytest.approx(want_tau, rel=1e-6)  # tau = step(rate*(I-hit)*tau, B)
    if b < batch_limit(cfg, i_len, o_len):
        # Little: B = rate * iterations per request * tau
        assert b == pytest.approx(rate * _iterations(cfg, o_len) * tau, rel=1e-6)


@SLOW
@given(case=st.sampled_from(sorted(CFGS)), lengths=LENGTHS)
def test_max_rate_is_where_the_batch_reaches_its_limit(case, lengths) -> None:  # type: ignore[no-untyped-def]
    cfg = CFGS[case]
    i_len, o_len = lengths
    b_lim = batch_limit(cfg, i_len, o_len)
    r_max = max_rate(cfg, i_len, o_len)
    assert 1.0 <= b_lim <= cfg[c.MAX_NUM_SEQS]

    def decoding_at(rate: float) -> float:
        tau = iteration_time(cfg, rate, i_len, o_len, b_lim)
        return rate * _iterations(cfg, o_len) * tau if math.isfinite(tau) else math.inf

    # just below the boundary the batch fits; just above it does not
    assert decoding_at(r_max * (1 - 1e-6)) <= b_lim
    assert decoding_at(r_max * (1 + 1e-4)) > b_lim


@SLOW
@given(
    case=st.sampled_from(sorted(CFGS)),
    lengths=LENGTHS,
    limits=st.tuples(st.sampled_from([0.2, 1.0, 5.0]), st.sampled_from([0.02, 0.05, 0.2])),
)
def test_the_largest_rate_under_an_slo_sits_on_the_binding_objective(case, lengths, limits) -> None:  # type: ignore[no-untyped-def]
    """rate_under_limits reads the table: at its answer every limited statistic (here p95
    TTFT and p99 TPOT) interpolates to within its limit, and just above it one does not."""
    cfg = CFGS[case][None, :]
    sh = lm.Shapes.fixed(*lengths)
    r_max = lm.capacity(cfg, sh)[:, 1]
    rates, values = lm.table(cfg, sh, r_max)
    lim = np.full((1, tail.COLUMNS), np.inf)
    cols = [lm.column("ttft_p95_s"), lm.column("tpot_p99_s")]
    lim[0, cols[0] - LATENCY], lim[0, cols[1] - LATENCY] = limits
    r_slo = float(lm.rate_under_slo(rates, values, lim, r_max)[0])
    assert 0.0 <= r_slo <= r_max[0]

    def meets(rate: float) -> bool:
        cols = np.arange(values.shape[2])
        one = np.zeros(1, np.intp)
        op = interpolate_points(
            rates, values, one, np.array([rate]), r_max, saturation_kinds(cols)
        )[0]
        return op[2] < 0.5 and all(op[c] <= lim[0, c - LATENCY] * (1 + 1e-9) for c in cols)

    if r_slo > 0:
        assert meets(r_slo)
    if r_slo < rates[0, -1] * (1 - 1e-3):  # an objective binds inside the table
        assert not meets(r_slo * (1 + 1e-3) + 1e-9)


def test_interpolation_matches_numpy_interp_and_saturates_above_r_max() -> None:
    cfgs = np.stack([CFGS["8b-a100"], CFGS["70b-int4-h100"]])
    sh = lm.Shapes.fixed(900.0, 250.0, n=2)
    r_max = lm.capacity(cfgs, sh)[:, 1]
    rates, values = lm.table(cfgs, sh, r_max)
    rng = np.random.default_rng(3)
    group = rng.integers(0, 2, 500)
    rate = rng.uniform(0.0, 1.2, 500) * r_max[group]
    cols = np.arange(values.shape[2])
    got = interpolate_points(rates, values, group, rate, r_max, saturation_kinds(cols))
    tpot = range(lm.column("tpot_mean_s"), lm.column("tpot_p99_s") + 1)
    for p in range(500):
        g = group[p]
        for v in range(values.shape[2]):
            want = np.interp(rate[p], rates[g], values[g, :, v])
            if rate[p] >= r_max[g] and v >= LATENCY and v not in tpot:
                assert got[p, v] == np.inf
            elif rate[p] < r_max[g] and v != 2:
                assert got[p, v] == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert got[p, 2] == (1.0 if rate[p] >= r_max[g] else 0.0)


def test_saturated_prompt_work_has_no_iteration_time() -> None:
    """When the prompts arriving per iteration need more than the iteration, tau = inf."""
    cfg = CFGS["8b-a100"]
    prefill_s_per_token = ref_step(cfg, 8192.0, 8192.0 * 4096.5, 1.0, 1.0, 1000.0) / 8192.0
    assert math.isinf(iteration_time(cfg, 2.0 / (3000.0 * prefill_s_per_token), 3000.0, 100.0, 1.0))
    assert math.isfinite(
        iteration_time(cfg, 0.1 / (3000.0 * prefill_s_per_token), 3000.0, 100.0, 1.0)
    )
