"""The fast model of a prefill/decode split: latency percentiles of a disaggregated fleet.

A split fleet (:mod:`simplan.disaggregation`) is two queues in series.

**Prefill replicas** (:class:`PrefillQueue`) run prompts only, first come first served in
chunks of the token budget ``B``, and hand each one off when its last chunk is done. A
newcomer's TTFT there is one of two cases:

* *no queue* (probability ``1 - C``): it may wait out the iteration in flight (uniform over
  it, when the replica is busy), then runs in an iteration with the prompts that arrived
  meanwhile. The iteration time ``tau`` is the fixed point of ``tau = step(rate * E[L] *
  tau)`` (what arrives during one iteration is the next one's work), and the others'
  tokens are a compound count (Poisson, or as bursty as the arrivals: a gamma clump adds
  ``(ca2 - 1) / 2`` prompts, the renewal function's offset) of prompt lengths, taken as a
  lognormal of that mean and variance;
* *a queue* (probability ``C``): it waits for the work ahead, M/G/c's wait with the
  prompts' work at full speed (``L`` tokens take ``L / B`` full iterations; Kingman's
  ``(ca2 + cs2) / 2`` with the Kraemer-Langenbach-Belz correction for bursty arrivals),
  then does its own work, and its first token comes at the end of the iteration its last
  chunk is in, which also carries what arrived while it waited (uniform over that
  iteration). The wait of those who wait is exponential, or a two-phase exponential as
  spread as M/G/1's second moment where that is larger.

``C`` is Erlang C over the pool (the router sends a newcomer to an idle replica when there
is one; least-outstanding routing behaves like one shared queue). Prompt lengths are 64
equally likely points plus the whole distribution's moments, because the long prompts
averaged into the colocated model's top sixteenth make the p95.

**Decode replicas** are read with the colocated model of :mod:`simplan.latency_model`,
their prompts arriving computed: every prompt token but the last is reused
(``PREFIX_HIT_SHARE = 1``), so their iterations carry decodes and one token per newcomer,
while each request still holds its whole prompt's KV cache. Their TPOT is the split's.

The split's statistics, with requests spread evenly over each side's replicas:

* TTFT = prefill TTFT + the KV transfer (:func:`simplan.disaggregation.transfer_s` of the
  mean prompt for the mean, of the prompt at the same quantile for a percentile, since the
  longest prompts wait longest);
* TPOT = the decode side's;
* e2e = prefill TTFT + transfer + the decode side's e2e; its mean is the sum of the means
  and a percentile adds the two sides' excesses over their means as independent parts
  (square root of the sum of squares: exact for normal parts, and the decode side, whose
  spread is the output length's, dominates); below the mean (the median) the excesses add.

A side past its sustainable rate makes the split saturated, its latencies infinite. The
accuracy against the simulation is measured by ``benchmarks/bench_split.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist

import numpy as np
from simplan import latency_model as lm
from simplan.disaggregation import transfer_s
from simplan.errors import SimplanError
from simplan.kernels import layout as c
from simplan.kernels import tail
from simplan.kernels.roofline import step_time_s
from simplan.kernels.tail import erlang_c
from simplan.pools import Pool, build_pools
from simplan.scenario import Scenario
from simplan.workload_shape import arrival_cv2, length_moments, length_points

#: (probability, mean seconds) of each exponential phase of a wait.
Phases = list[tuple[float, float]]

#: Equally likely prompt lengths of the prefill queue: more than the colocated model's
#: 16, whose top slice (the longest sixteenth) averages away the long prompts of the p95.
PROMPT_POINTS = 64
#: The percentiles of the latency columns, in order (mean first).
_QUANTILES = tuple(float(p) / 100.0 for p in tail.PERCENTILES)


def split_pools(scenario: Scenario, source: str) -> tuple[Pool, Pool]:
    """The prefill pool and the decode pool of a split fleet (exactly one of each)."""
    pools = build_pools(scenario)
    prefill = [p for p in pools if p.section.role == "prefill"]
    decode = [p for p in pools if p.section.role == "decode"]
    if len(prefill) != 1 or len(decode) != 1 or len(pools) != 2:
        raise SimplanError(
            "a prefill/decode split is modelled with one prefill pool and one decode pool; "
            f"this fleet has {len(prefill)} prefill and {len(decode)} decode pools "
            f"of {len(pools)}",
            source=source,
        )
    return prefill[0], decode[0]


def _stat(values: np.ndarray, metric: str, stat: str) -> float:
    return float(values[lm.column(f"{metric}_{stat}_s")])


@dataclass
class PrefillQueue:
    """A prefill replica: bulk service in iterations, then a queue for the token budget
    (module docstring)."""

    cfg: np.ndarray
    lengths: np.ndarray  # (k,) equally likely prompt lengths
    ca2: float  # squared coefficient of variation of the inter-arrival times
    moments: tuple[float, float, float]  # E[L], E[L^2], E[L^3] of the whole distribution

    @classmethod
    def of(cls, cfg: np.ndarray, scenario: Scenario) -> PrefillQueue:
        """The prefill replica ``cfg`` under ``scenario``'s prompts and arrivals."""
        return cls(
            cfg,
            length_points(scenario, "input_tokens", PROMPT_POINTS),
            arrival_cv2(scenario),
            length_moments(scenario, "input_tokens"),
        )

    @cached_property
    def mean_len(self) -> float:
        """Mean prompt length, tokens."""
        return float(self.lengths.mean())

    @cached_property
    def keys_per_token(self) -> float:
        """Keys a prompt token attends to on average: a token at position j attends to
        j + 1, so (L + 1) / 2 over a prompt, token-weighted over prompts."""
        return (float((self.lengths**2).mean()) / self.mean_len + 1.0) / 2.0

    @cached_property
    def budget_tokens(self) -> float:
        """Prompt tokens one iteration takes at most (token budget, sequence limit)."""
        cfg = self.cfg
        return float(min(cfg[c.MAX_BATCHED_TOKENS], cfg[c.MAX_NUM_SEQS] * self.mean_len))

    def step_s(self, tokens: float) -> float:
        """Seconds to prefill ``tokens`` prompt tokens in full iterations of the budget."""
        if tokens <= 0.0:
            return 0.0
        n = max(math.ceil(tokens / self.budget_tokens - 1e-9), 1)
        x = tokens / n
        return n * float(
            step_time_s(self.cfg, x, x * self.keys_per_token, x / self.mean_len, 0.0, 0.0)
        )

    @cached_property
    def r_max_per_s(self) -> float:
        """Prompts per second in back-to-back full iterations."""
        b = self.budget_tokens
        return b / (self.mean_len * self.step_s(b))

    def others_tokens(self, prompts: float, points: int = 8) -> np.ndarray:
        """Equally likely token counts of the other prompts sharing a newcomer's iteration,
        ``prompts`` of them on average: a compound count (Poisson, or as bursty as the
        arrivals) of prompt lengths, as a lognormal of the same mean and variance, each
        point capped at the token budget."""
        mean = prompts * self.mean_len
        if mean <= 0.0:
            return np.zeros(1)
        var = prompts * float((self.lengths**2).mean()) * max(self.ca2, 1.0)
        s2 = math.log1p(var / mean**2)
        z = np.array([NormalDist().inv_cdf((j + 0.5) / points) for j in range(points)])
        return np.minimum(np.exp(math.log(mean) - s2 / 2.0 + math.sqrt(s2) * z), self.budget_tokens)

    def iteration_s(self, rate_per_s: float) -> float:
        """The iteration a newcomer joins: it carries what arrived during the one before,
        so its time is the fixed point of ``tau = step(rate * E[L] * tau)``, found from one
        prompt's iteration."""
        mean_len = self.mean_len
        b = self.budget_tokens
        tau = self.step_s(min(mean_len, b))
        for _ in range(100):
            nxt = self.step_s(min(b, rate_per_s * mean_len * tau))
            if abs(nxt - tau) <= 1e-9 * tau:
                break
            tau = nxt
        return tau

    def queue_wait(self, rate_per_s: float, replicas: int) -> tuple[float, float, Phases]:
        """(probability of waiting, mean wait of those who wait, phases) of the budget's
        queue: M/G/c with the prompts' work at full speed (Kingman, Kraemer-Langenbach-Belz
        for bursty arrivals, Erlang C over the pool, which least-outstanding routing makes
        one shared queue). ``phases`` are (probability, mean) of the conditional wait: one
        exponential, or two of balanced means where M/G/1's second moment (``E[W^2] =
        2 W^2 + rate E[S^3] / 3 (1 - rho)``) is more spread than an exponential."""
        rho = rate_per_s / self.r_max_per_s
        m1, m2, m3 = self.moments
        cs2 = m2 / m1**2 - 1.0
        klb = math.exp(-(1 - rho) * (self.ca2 - 1) / (self.ca2 + 4 * cs2)) if self.ca2 > 1 else 1.0
        waits = erlang_c(replicas, replicas * rho)
        w_mean = (self.ca2 + cs2) / 2.0 * waits / (replicas * (1.0 - rho)) / self.r_max_per_s * klb
        if not w_mean > 0.0:
            return waits, 0.0, [(1.0, 0.0)]
        tail_s = w_mean / waits
        s3 = m3 / m1**3 / self.r_max_per_s**3
        w2 = 2.0 * w_mean**2 + rate_per_s * s3 / (3.0 * (1.0 - rho)) * waits / max(rho, 1e-12)
        cv2 = max(waits * w2 / w_mean**2 - 1.0, 1.0)
        p_fast = (1.0 + math.sqrt((cv2 - 1.0) / (cv2 + 1.0))) / 2.0
        phases = [(p, tail_s / (2.0 * p)) for p in (p_fast, 1.0 - p_fast) if p > 0.0]
        return waits, tail_s, phases

    def ttft(self, rate_per_s: float, replicas: int = 1) -> tuple[float, np.ndarray]:
        """(mean, percentiles :data:`simplan.kernels.tail.PERCENTILES`) of the TTFT at
        ``rate_per_s`` prompts per second per replica (below capacity) in a pool of
        ``replicas`` that the router keeps evenly loaded (module docstring)."""
        mean_len = self.mean_len
        b = self.budget_tokens
        tau = self.iteration_s(rate_per_s)
        # a clump of gamma arrivals lands together: (ca2 - 1) / 2 more prompts on average
        # (the renewal function's offset) share the newcomer's iteration
        clump = max(self.ca2 - 1.0, 0.0) / 2.0
        others = self.others_tokens(rate_per_s * tau + clump)
        own = np.array([[self.step_s(x + y) for y in others] for x in self.lengths]).ravel()
        # the router picks an idle replica when there is one (Erlang C over the pool)
        busy = erlang_c(replicas, replicas * min(1.0, rate_per_s * max(tau, float(own.mean()))))
        waits, tail_s, phases = self.queue_wait(rate_per_s, replicas)
        # No queue (1 - waits): wait out the iteration in flight (uniform over it) when
        # the replica is busy, then run with the others (`own`).
        m = 8
        u = (np.arange(m) + 0.5) / m
        in_flight = max(busy - waits, 0.0) / (1.0 - waits) if waits < 1.0 else 0.0
        r_at = np.concatenate([[0.0], u * tau])
        r_w = np.concatenate([[1.0 - in_flight], np.full(m, in_flight / m)]) * (1.0 - waits)
        # A queue (waits): the wait for the work ahead, then its own tokens in full
        # iterations, its first token at the end of the iteration its last chunk is in
        # (uniform), which also carries what arrived while it waited and ran.
        full_s = self.step_s(b)
        work_s = self.lengths * full_s / b
        behind = rate_per_s * mean_len * (tail_s + work_s)
        last_s = np.array([self.step_s(min(b, x)) for x in self.lengths + behind])
        queued = work_s[:, None] + u[None, :] * last_s[:, None]
        base = np.concatenate([(own[:, None] + r_at[None, :]).ravel(), queued.ravel()])
        weight = np.concatenate(
            [
                np.repeat(r_w[None, :], own.size, axis=0).ravel() / own.size,
                np.full(queued.size, waits / queued.size),
            ]
        )
        waited = np.concatenate([np.zeros(own.size * (m + 1), bool), np.ones(queued.size, bool)])
        return float(base @ weight) + waits * tail_s, _quantiles(base, weight, waited, phases)


def _quantiles(
    base: np.ndarray,
    weight: np.ndarray,
    waited: np.ndarray,
    phases: Phases,
) -> np.ndarray:
    """The :data:`_QUANTILES` of a mixture: with probability ``weight``, ``base`` plus,
    where ``waited``, a wait of exponential ``phases`` (probability, mean); by bisection."""

    def below(t: np.ndarray) -> np.ndarray:  # P(TTFT <= t)
        x = np.maximum(t[..., None] - base, 0.0)
        late = sum(p * np.exp(-x / max(mean_s, 1e-300)) for p, mean_s in phases)
        done = np.where(waited, 1.0 - late, 1.0)
        return (np.where(t[..., None] >= base, done, 0.0) * weight).sum(axis=-1)

    q = np.array(_QUANTILES)
    longest = max(mean_s for _, mean_s in phases)
    lo = np.full(q.shape, float(base.min()))
    hi = np.full(q.shape, float(base.max()) + 60.0 * longest + 1e-9)
    for _ in range(60):
        mid = (lo + hi) / 2.0
        under = below(mid) < q
        lo = np.where(under, mid, lo)
        hi = np.where(under, hi, mid)
    return hi


@dataclass
class SplitModel:
    """Both sides' fast models, built once for a split fleet's workload."""

    prefill: PrefillQueue
    decode: lm.ReplicaModel
    transfer_mean_s: float
    transfer_at_s: tuple[float, ...]  # at each percentile's prompt length

    @classmethod
    def of(cls, scenario: Scenario, source: str = "scenario") -> SplitModel:
        """The model of ``scenario``'s split fleet (its pools' replicas, its workload)."""
        p, d = split_pools(scenario, source)
        sh = lm.shapes([scenario])
        cfg = d.replica.cfg.copy()
        cfg[c.PREFIX_HIT_TOKENS] = 0.0
        cfg[c.PREFIX_HIT_SHARE] = 1.0  # the whole prompt but its last token arrives computed
        cfg[c.PREFIX_POOL_TOKENS] = 0.0
        link = scenario.hardware.kv_transfer_gb_per_s
        prefill = PrefillQueue.of(p.replica.cfg, scenario)

        def moved(tokens: float) -> float:
            return transfer_s(p.replica, d.replica, round(tokens), link)

        at = tuple(moved(float(np.quantile(prefill.lengths, q))) for q in _QUANTILES)
        return cls(prefill, lm.ReplicaModel.of(cfg, scenario, sh), moved(float(sh.i_len[0])), at)

    def r_max_per_s(self, n_prefill: int, n_decode: int) -> float:
        """Requests per second the split sustains: the slower side's."""
        return min(n_prefill * self.prefill.r_max_per_s, n_decode * self.decode.r_max_per_s)

    def at_rate(self, rate_per_s: float, n_prefill: int, n_decode: int) -> np.ndarray:
        """The split's operating point (``latency_model.COLUMNS``) at a fleet rate:
        ``batch`` and ``iteration_s`` are the decode side's."""
        out = np.full(len(lm.COLUMNS), math.inf)
        up = n_prefill > 0 and n_decode > 0
        if not (up and rate_per_s < self.r_max_per_s(n_prefill, n_decode)):
            out[lm.column("saturated")] = 1.0
            return out
        a_mean, a_pct = self.prefill.ttft(rate_per_s / n_prefill, n_prefill)
        b = self.decode.at_rate(rate_per_s / n_decode)
        out[lm.column("batch")] = b[lm.column("batch")]
        out[lm.column("iteration_s")] = b[lm.column("iteration_s")]
        out[lm.column("saturated")] = b[lm.column("saturated")]
        ttft_mean = a_mean + self.transfer_mean_s
        out[lm.column("ttft_mean_s")] = ttft_mean
        out[lm.column("e2e_mean_s")] = ttft_mean + _stat(b, "e2e", "mean")
        for name in ("mean", *lm.STATS[1:]):
            out[lm.column(f"tpot_{name}_s")] = _stat(b, "tpot", name)
        for k, name in enumerate(lm.STATS[1:]):
            ttft = float(a_pct[k]) + self.transfer_at_s[k]
            out[lm.column(f"ttft_{name}_s")] = ttft
            over_p = ttft - ttft_mean
            over_d = _stat(b, "e2e", name) - _stat(b, "e2e", "mean")
            both = math.hypot(over_p, over_d) if over_p > 0 and over_d > 0 else over_p + over_d
            out[lm.column(f"e2e_{name}_s")] = out[lm.column("e2e_mean_s")] + both
        return out

    def holds(self, rate_per_s: float, n_prefill: int, n_decode: int, scenario: Scenario) -> bool:
        """Whether every ``[slo]`` objective holds at ``rate_per_s`` (each objective's own
        statistic), and neither side is saturated."""
        return self.worst(rate_per_s, n_prefill, n_decode, lm.limits([scenario])[0]) <= 1.0

    def worst(self, rate_per_s: float, n_prefill: int, n_decode: int, lim: np.ndarray) -> float:
        """The largest ratio of an objective's predicted statistic to its limit (inf when
        saturated; below 1 when every objective holds)."""
        point = self.at_rate(rate_per_s, n_prefill, n_decode)
        if point[lm.column("saturated")] > 0.0:
            return math.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = point[lm.column("ttft_mean_s") :] / lim
        return float(np.max(ratio, initial=0.0))

    def fewest(
        self, rate_per_s: float, scenario: Scenario, most: int = 256
    ) -> tuple[int, int] | None:
        """The fewest replicas per side at which the split holds at ``rate_per_s``: each
        side's capacity first, then one replica at a time to the side whose extra replica
        brings the worst objective closest to its limit; None when nothing up to ``most``
        replicas per side holds."""
        sides = (self.prefill, self.decode)
        if not all(m.r_max_per_s > 0.0 for m in sides):
            return None
        n = [max(1, math.floor(rate_per_s / m.r_max_per_s) + 1) for m in sides]
        lim = lm.limits([scenario])[0]
        seen: dict[tuple[int, int], float] = {}

        def worst(n_p: int, n_d: int) -> float:  # each split's point is solved once
            if (n_p, n_d) not in seen:
                seen[n_p, n_d] = self.worst(rate_per_s, n_p, n_d, lim)
            return seen[n_p, n_d]

        while max(n) <= most:
            if worst(n[0], n[1]) <= 1.0:
                return n[0], n[1]
            more_p = worst(n[0] + 1, n[1])
            more_d = worst(n[0], n[1] + 1)
            if math.isinf(more_p) and math.isinf(more_d):  # relieve the busier side
                busy = [rate_per_s / (k * m.r_max_per_s) for k, m in zip(n, sides, strict=True)]
                n[int(np.argmax(busy))] += 1
            else:
                n[0 if more_p < more_d else 1] += 1
        return None
