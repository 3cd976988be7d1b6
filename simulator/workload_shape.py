"""The shape of a workload as the fast model sees it: length quantiles and burstiness.

The fast model's percentiles (:mod:`simplan.kernels.tail`) mix per-request latency laws
over equally likely prompt and output lengths. Those lengths are the means of equally
likely slices of a large draw from the very sampler the simulation uses
(:func:`simplan.workload.sample_lengths`), so a distribution, its clipping at ``min`` /
``max`` and the model's context limit mean the same thing on both paths.
"""

from __future__ import annotations

import numpy as np
from simplan.scenario import Scenario
from simplan.sessions import session_prompts
from simplan.workload import sample_generated, sample_lengths

#: Equally likely lengths per distribution the fast model mixes over.
LENGTH_POINTS = 16
#: Draws the quantiles are taken from (fixed seed: the same points every time).
_DRAWS = 20_000
_SEED = 20261202


def length_points(scenario: Scenario, key: str, k: int = LENGTH_POINTS) -> np.ndarray:
    """``k`` equally likely values of ``workload.<key>`` in tokens: the means of ``k``
    equally likely slices of a large draw."""
    # the mean of each slice, not its midpoint: the points keep the distribution's mean
    # and more of its tail (the top sixteenth of a lognormal of mean 3,000 and std 2,000
    # averages 8,361 tokens; its midpoint is 7,761), which long prompts' queueing turns on
    draws = np.sort(_draws(scenario, key))
    return np.array([part.mean() for part in np.array_split(draws, k)])


def length_moments(scenario: Scenario, key: str) -> tuple[float, float, float]:
    """E[x], E[x^2] and E[x^3] of ``workload.<key>`` in tokens, from the whole draw: the
    16 slice means lose part of the far tail (a lognormal draw's cv^2 of 0.43 reads 0.40)."""
    draws = _draws(scenario, key)
    return float(draws.mean()), float((draws**2).mean()), float((draws**3).mean())


def _draws(scenario: Scenario, key: str) -> np.ndarray:
    cap = scenario.model.arch().max_context_tokens
    rng = np.random.default_rng(_SEED)
    if key == "output_tokens":  # every generated token, hidden reasoning included
        draws, _ = sample_generated(scenario, _DRAWS, rng, cap)
    else:
        draws = sample_lengths(getattr(scenario.workload, key), _DRAWS, rng, scenario, key, cap)
        if key == "input_tokens":  # the whole prompt: any shared prefix, then its own part
            draws = draws + scenario.workload.prefix_tokens
            if scenario.workload.sessions is not None:  # prompts across whole sessions
                answers, _ = sample_generated(scenario, _DRAWS, rng, cap)
                draws = session_prompts(scenario, _DRAWS, rng, draws, answers)
    return draws.astype(float)


def arrival_cv2(scenario: Scenario) -> float:
    """Squared coefficient of variation of inter-arrival times (Poisson 1, constant 0)."""
    w = scenario.workload
    if w.arrival == "gamma":
        return float(w.burstiness)
    if w.arrival == "constant":
        return 0.0
    return 1.0
