"""Fitting the deployment factors to benchmark runs: which factors the runs can determine,
the joint least-squares fit, its intervals and a leave-one-run-out check.

The residual of a measured field is ``log(predicted / measured)``, so a 10% miss weighs
the same on a 30 ms TTFT as on a 3,000 tokens/s throughput. Every run is simulated with
the same seed at every trial (common random numbers), so the objective moves with the
factors, not with sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import t as student_t


@dataclass(frozen=True)
class Axis:
    """How the optimiser moves a factor: in log space (ratios), or linearly in ``unit``
    steps for a factor whose catalog value is 0 (no ratio moves it off 0)."""

    log: bool
    low: float
    high: float
    unit: float = 1.0

    def to_x(self, value: float) -> float:
        # a ratio factor whose catalog value is 0 (SGLang's host step) starts at its floor
        return math.log(max(value, self.low)) if self.log else value / self.unit

    def to_value(self, x: float) -> float:
        return math.exp(x) if self.log else x * self.unit

    @property
    def bounds(self) -> tuple[float, float]:
        return self.to_x(self.low), self.to_x(self.high)

    def moved_by(self) -> str:
        """What one unit of x means, for messages."""
        return "doubling it" if self.log else f"adding {self.unit * 1e6:.0f} us"


#: The factors simplan fits: the two efficiency scales (kernels: prefill and large batches
#: are compute-bound, decode memory-bound), the host overhead per iteration and per
#: sequence (engines whose scheduler and sampling run in Python between GPU steps).
AXES = {
    "compute_efficiency_scale": Axis(True, 0.05, 3.0),
    "memory_efficiency_scale": Axis(True, 0.05, 3.0),
    "iteration_overhead_s": Axis(True, 1e-6, 0.2),
    "sequence_overhead_s": Axis(False, 0.0, 0.01, unit=1e-4),
}
FACTORS = tuple(AXES)

#: Finite-difference step in x (5% in log space): larger than the simulation's
#: discreteness, small against the factors' plausible range.
STEP = 0.05
#: A factor that moves the fitted fields by less than this (rms of log ratios) per unit
#: of its x (x e for a ratio: 1.4% per doubling; 100 us per sequence) is not determined
#: by the runs and keeps the catalog's value.
MIN_SENSITIVITY = 0.02
#: Normalised sensitivities this close to collinear cannot be told apart.
MIN_SINGULAR_RATIO = 0.1
#: A field the simulation cannot predict (no request finished) counts as a 20x miss.
MISS = math.log(20.0)
#: Most evaluations of each leave-one-run-out refit (it starts at the full fit).
LOO_MAX_EVALUATIONS = 8


def quantile_80(dof: int) -> float:
    """Student's t quantile of a central 80% interval with ``dof`` degrees of freedom."""

    return float(student_t.ppf(0.9, max(dof, 1)))


@dataclass
class FitResult:
    """What the fit found, in log space where noted."""

    free: list[str]
    held: dict[str, str]
    values: dict[str, float]
    intervals_80: dict[str, tuple[float, float]]
    before: np.ndarray
    after: np.ndarray
    leave_one_out: np.ndarray | None
    evaluations: int
    notes: list[str] = field(default_factory=list)
    #: residuals simulated with another seed minus ``after``: the sampling noise
    seed_difference: np.ndarray | None = None


class Residuals:
    """``residuals(values)`` for all runs, memoised (the optimiser asks twice for a point)."""

    def __init__(self, evaluate: Callable[[dict[str, float]], np.ndarray]) -> None:
        self._evaluate = evaluate
        self._memo: dict[tuple[tuple[str, float], ...], np.ndarray] = {}

    def __call__(self, values: dict[str, float]) -> np.ndarray:
        key = tuple(sorted((k, round(v, 12)) for k, v in values.items()))
        if key not in self._memo:
            r = np.asarray(self._evaluate(values), dtype=np.float64)
            self._memo[key] = np.where(np.isfinite(r), r, MISS)
        return self._memo[key]

    @property
    def evaluations(self) -> int:
        return len(self._memo)


def _values(names: list[str], x: np.ndarray, base: dict[str, float]) -> dict[str, float]:
    return {**base, **{n: AXES[n].to_value(float(v)) for n, v in zip(names, x, strict=True)}}


def jacobian(res: Residuals, names: list[str], x: np.ndarray, base: dict[str, float]) -> np.ndarray:
    """Forward differences of the residuals in log space (one simulation per factor)."""
    r0 = res(_values(names, x, base))
    cols = []
    for j in range(len(names)):
        step = np.zeros_like(x)
        # step inward at an upper bound so the trial stays in range
        step[j] = -STEP if x[j] + STEP > AXES[names[j]].bounds[1] else STEP
        cols.append((res(_values(names, x + step, base)) - r0) / step[j])
    return np.stack(cols, axis=1) if cols else np.zeros((r0.size, 0))


def _well_conditioned(jac: np.ndarray) -> bool:
    cols = jac / np.linalg.norm(jac, axis=0)
    sv = np.linalg.svd(cols, compute_uv=False)
    return bool(sv[-1] >= MIN_SINGULAR_RATIO * sv[0])


def choose_factors(
    jac: np.ndarray, r0: np.ndarray, names: list[str], n_runs: int
) -> tuple[list[str], dict[str, str]]:
    """The factors these runs can determine, and why each other one is held.

    Among the factors the runs depend on, every subset of at most ``n_runs - 1`` factors
    whose effects can be told apart is scored by the residual a Gauss-Newton step from the
    catalog values predicts, per degree of freedom; the best subset is fitted.
    """
    sens = np.sqrt(np.mean(jac**2, axis=0)) if jac.size else np.zeros(len(names))
    held = {
        n: f"the runs barely depend on it ({AXES[n].moved_by()} moves them "
        f"{s * (math.log(2.0) if AXES[n].log else 1.0):.1%} rms)"
        for n, s in zip(names, sens, strict=True)
        if s < MIN_SENSITIVITY
    }
    usable = [n for n in names if n not in held]
    limit = n_runs - 1
    best: tuple[float, tuple[str, ...]] | None = None
    for k in range(1, min(limit, len(usable)) + 1):
        for subset in combinations(usable, k):
            cols = jac[:, [names.index(n) for n in subset]]
            if k > 1 and not _well_conditioned(cols):
                continue
            step = np.linalg.lstsq(cols, -r0, rcond=None)[0]
            left = r0 + cols @ step
            score = float(left @ left) / max(r0.size - k, 1)
            if best is None or score < best[0] * (1.0 - 1e-9):
                best = (score, subset)
    free = list(best[1]) if best is not None else []
    for n in usable:
        if n in free:
            continue
        cols = jac[:, [names.index(m) for m in [*free, n]]]
        if not _well_conditioned(cols):
            held[n] = f"in these runs its effect cannot be told apart from {', '.join(free)}'s"
        elif len(free) >= limit:
            held[n] = (
                f"{n_runs} run(s) support at most {limit} factor(s) (one run is held out in "
                f"turn to check the fit); {', '.join(free)} explain(s) the runs best"
            )
        else:
            held[n] = f"adds nothing the runs can resolve beyond {', '.join(free)}"
    return [n for n in names if n in free], held


def fit(
    res: Residuals,
    candidates: list[str],
    base: dict[str, float],
    run_of_row: np.ndarray,
    n_runs: int,
    other_seed: Callable[[dict[str, float]], np.ndarray],
) -> FitResult:
    """Fit the factors the runs support, jointly over all runs.

    ``base`` holds every factor's starting (catalog) value; ``run_of_row`` maps each
    residual to its run (for the leave-one-run-out check); ``other_seed(values)`` gives
    the residuals simulated with another seed. A benchmark is one draw of a random
    process, and so is each simulation: the spread between two seeds measures that
    noise, and the intervals are never narrower than it allows.
    """
    x_all = np.array([AXES[n].to_x(base[n]) for n in candidates])
    before = res(base)
    jac0 = jacobian(res, candidates, x_all, base)
    free, held = choose_factors(jac0, before, candidates, n_runs)
    if not free:
        return FitResult([], held, dict(base), {}, before, before, None, res.evaluations)
    idx = [candidates.index(n) for n in free]
    x0 = x_all[idx]
    lo = np.array([AXES[n].bounds[0] for n in free])
    hi = np.array([AXES[n].bounds[1] for n in free])
    # scipy's trust region starts as wide as |x0|: a factor at 0 would start it at nothing
    x0 = np.array([max(x, 0.5) if not AXES[n].log else x for n, x in zip(free, x0, strict=True)])
    sol = _solve(res, free, base, np.clip(x0, lo, hi), None, max_nfev=25)
    values = _values(free, sol.x, base)
    after = res(values)
    jac = jacobian(res, free, sol.x, base)
    p = len(free)
    # two draws differ by twice one's variance: as much as the data (one draw) and the
    # simulation (another) can differ by sampling alone
    seed_difference = np.asarray(other_seed(values)) - after
    seed_difference = np.where(np.isfinite(seed_difference), seed_difference, MISS)
    se = _clustered_se(jac, after, seed_difference, run_of_row, n_runs)
    z = quantile_80(n_runs - p)  # the runs are the independent draws (see _bands)
    intervals = {}
    for name, x, e in zip(free, sol.x, se, strict=True):
        lo_x, hi_x = AXES[name].bounds
        half = z * e if np.isfinite(e) else np.inf
        intervals[name] = (
            max(AXES[name].to_value(max(x - half, lo_x)), AXES[name].low),
            AXES[name].to_value(min(x + half, hi_x)),
        )
    notes = []
    for name, x in zip(free, sol.x, strict=True):
        lo_x, hi_x = AXES[name].bounds
        if x >= hi_x - 1e-6 or (AXES[name].log and x <= lo_x + 1e-6):
            notes.append(
                f"{name} stopped at its bound ({AXES[name].to_value(x):.3g}): the model misses "
                "something in these runs that this factor cannot express"
            )
    loo = None
    if n_runs > 1:
        loo = np.empty_like(after)
        for i in range(n_runs):  # refit without run i, from the full fit
            mine = run_of_row == i
            fold = _solve(res, free, base, sol.x, ~mine, max_nfev=LOO_MAX_EVALUATIONS)
            loo[mine] = res(_values(free, fold.x, base))[mine]
    return FitResult(
        free, held, values, intervals, before, after, loo, res.evaluations, notes, seed_difference
    )


def _clustered_se(
    jac: np.ndarray, r: np.ndarray, d: np.ndarray, run_of_row: np.ndarray, n_runs: int
) -> np.ndarray:
    """Standard errors of the fitted x with the runs as the independent draws.

    A run's fields share its load and its sampling luck, so the score is summed per run
    (a cluster-robust sandwich, ``B^-1 M B^-1`` with ``B = J'J``). ``M`` adds the same sum
    over half the two-seed differences ``d``, so an exact fit still carries the spread
    that sampling alone gives. A factor no field moves gets an infinite error.
    """
    p = jac.shape[1]
    bread = np.linalg.pinv(jac.T @ jac)
    meat = np.zeros((p, p))
    for i in range(n_runs):
        rows = run_of_row == i
        g = jac[rows].T @ r[rows]
        h = jac[rows].T @ d[rows]
        meat += np.outer(g, g) + 0.5 * np.outer(h, h)
    meat *= n_runs / max(n_runs - p, 1)  # small-sample correction
    var = np.diag(bread @ meat @ bread)
    se = np.sqrt(np.clip(var, 0.0, None))
    dead = np.linalg.norm(jac, axis=0) < 1e-12
    return np.where(dead, np.inf, se)


def _solve(
    res: Residuals,
    free: list[str],
    base: dict[str, float],
    x0: np.ndarray,
    rows: np.ndarray | None,
    max_nfev: int,
) -> Any:
    """Bounded least squares over the residuals in ``rows`` (all when None)."""

    pick = slice(None) if rows is None else rows
    return least_squares(
        lambda x: res(_values(free, x, base))[pick],
        x0,
        jac=lambda x: jacobian(res, free, x, base)[pick],
        bounds=(
            np.array([AXES[n].bounds[0] for n in free]),
            np.array([AXES[n].bounds[1] for n in free]),
        ),
        method="trf",
        x_scale=1.0,
        ftol=1e-6,
        xtol=1e-5,
        gtol=1e-8,
        max_nfev=max_nfev,
    )
