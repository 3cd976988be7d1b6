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

import numpy as np

#: The factors simplan fits, in the order they are dropped when the runs cannot support
#: them all (least general first).
FACTORS = ("compute_efficiency_scale", "memory_efficiency_scale", "iteration_overhead_s")

#: log-space bounds: scales from 1/20 to 3 times the catalog's, overheads 1 us to 200 ms.
BOUNDS = {
    "compute_efficiency_scale": (math.log(0.05), math.log(3.0)),
    "memory_efficiency_scale": (math.log(0.05), math.log(3.0)),
    "iteration_overhead_s": (math.log(1e-6), math.log(0.2)),
}

#: Finite-difference step in log space (5%): larger than the simulation's discreteness,
#: small against the factors' plausible range.
STEP = 0.05
#: A factor whose doubling moves the fitted fields by less than this (rms, log) is not
#: determined by the runs and keeps the catalog's value.
MIN_SENSITIVITY = 0.02
#: Normalised sensitivities this close to collinear cannot be told apart.
MIN_SINGULAR_RATIO = 0.1
#: A field the simulation cannot predict (no request finished) counts as a 20x miss.
MISS = math.log(20.0)
#: The standard normal quantile of a central 80% interval.
Z80 = 1.2815515655446004


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
    return {**base, **{n: float(math.exp(v)) for n, v in zip(names, x, strict=True)}}


def jacobian(res: Residuals, names: list[str], x: np.ndarray, base: dict[str, float]) -> np.ndarray:
    """Forward differences of the residuals in log space (one simulation per factor)."""
    r0 = res(_values(names, x, base))
    cols = []
    for j in range(len(names)):
        step = np.zeros_like(x)
        # step inward at an upper bound so the trial stays in range
        step[j] = -STEP if x[j] + STEP > BOUNDS[names[j]][1] else STEP
        cols.append((res(_values(names, x + step, base)) - r0) / step[j])
    return np.stack(cols, axis=1) if cols else np.zeros((r0.size, 0))


def choose_factors(
    jac: np.ndarray, names: list[str], n_runs: int
) -> tuple[list[str], dict[str, str]]:
    """The factors these runs can determine, and why each other one is held."""
    sens = np.sqrt(np.mean(jac**2, axis=0)) if jac.size else np.zeros(len(names))
    free = [n for n, s in zip(names, sens, strict=True) if s >= MIN_SENSITIVITY]
    held = {
        n: f"the runs barely depend on it (doubling it moves them {s * math.log(2):.1%} rms)"
        for n, s in zip(names, sens, strict=True)
        if s < MIN_SENSITIVITY
    }
    by_sens = dict(zip(names, sens, strict=True))
    limit = max(1, n_runs - 1)
    while len(free) > limit:
        weakest = min(free, key=lambda n: by_sens[n])
        free.remove(weakest)
        held[weakest] = (
            f"{n_runs} run(s) support at most {limit} factor(s): one run is held out in "
            "turn to check the fit"
        )
    while len(free) > 1:
        cols = jac[:, [names.index(n) for n in free]]
        cols = cols / np.linalg.norm(cols, axis=0)
        sv = np.linalg.svd(cols, compute_uv=False)
        if sv[-1] >= MIN_SINGULAR_RATIO * sv[0]:
            break
        weakest = min(free, key=lambda n: by_sens[n])
        free.remove(weakest)
        others = ", ".join(free)
        held[weakest] = f"in these runs its effect cannot be told apart from {others}"
    return free, held


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
    from scipy.optimize import least_squares

    x_all = np.array([math.log(base[n]) for n in candidates])
    before = res(base)
    jac0 = jacobian(res, candidates, x_all, base)
    free, held = choose_factors(jac0, candidates, n_runs)
    if not free:
        return FitResult([], held, dict(base), {}, before, before, None, res.evaluations)
    idx = [candidates.index(n) for n in free]
    x0 = x_all[idx]
    lo = np.array([BOUNDS[n][0] for n in free])
    hi = np.array([BOUNDS[n][1] for n in free])
    sol = least_squares(
        lambda x: res(_values(free, x, base)),
        np.clip(x0, lo, hi),
        jac=lambda x: jacobian(res, free, x, base),
        bounds=(lo, hi),
        method="trf",
        x_scale=1.0,
        ftol=1e-6,
        xtol=1e-5,
        gtol=1e-8,
        max_nfev=25,
    )
    values = _values(free, sol.x, base)
    after = res(values)
    jac = jacobian(res, free, sol.x, base)
    n, p = after.size, len(free)
    # two draws differ by twice one's variance: as much as the data (one draw) and the
    # simulation (another) can differ by sampling alone
    seed_difference = np.asarray(other_seed(values)) - after
    s2 = max(float(after @ after) / max(n - p, 1), float(np.mean(seed_difference**2)))
    cov = s2 * np.linalg.pinv(jac.T @ jac)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    intervals = {
        name: (math.exp(x - Z80 * e), math.exp(x + Z80 * e))
        for name, x, e in zip(free, sol.x, se, strict=True)
    }
    notes = []
    for name, x in zip(free, sol.x, strict=True):
        if x <= BOUNDS[name][0] + 1e-6 or x >= BOUNDS[name][1] - 1e-6:
            notes.append(
                f"{name} stopped at its bound ({math.exp(x):.3g}): the model misses something "
                "in these runs that this factor cannot express"
            )
    loo = leave_one_out(jac, after, run_of_row, n_runs) if n_runs > 1 else None
    return FitResult(free, held, values, intervals, before, after, loo, res.evaluations, notes)


def leave_one_out(
    jac: np.ndarray, r: np.ndarray, run_of_row: np.ndarray, n_runs: int
) -> np.ndarray:
    """Residuals of each run predicted by a fit to the other runs.

    Linearised at the full fit: the fit without run ``i`` moves the factors by the
    Gauss-Newton step ``-lstsq(jac_-i, r_-i)``, and run ``i``'s residuals move by ``J_i``
    times that step (one step of the refit, without re-simulating every run).
    """
    out = np.empty_like(r)
    for i in range(n_runs):
        mine = run_of_row == i
        rest = ~mine
        step = np.linalg.lstsq(jac[rest], -r[rest], rcond=None)[0]
        out[mine] = r[mine] + jac[mine] @ step
    return out
