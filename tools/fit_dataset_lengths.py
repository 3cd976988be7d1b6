"""Fit the lognormal lengths of ``datasets.toml`` to the statistics their sources state.

simplan draws a lognormal length from its mean and standard deviation and clips it to
[min, max]. For each dataset side this script takes the stated median (which fixes mu,
since clipping leaves the median alone) and one more statistic: the stated mean (matched
after clipping, because throughput depends on the mean actually drawn) or, where no mean is
stated, a stated upper percentile. It prints the unclipped mean and std to write into the
catalog, and the clipped mean and median a run will see, as a check.

Usage: python tools/fit_dataset_lengths.py
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

#: (dataset, side): stated statistics (tokens). "mean" or ("p", q, value) as the second one.
STATED: dict[tuple[str, str], dict[str, float]] = {
    ("sharegpt", "input"): {"p50": 34, "mean": 119.58, "min": 4, "max": 1024},
    ("sharegpt", "output"): {"p50": 280, "mean": 348.41, "min": 4, "max": 2044},
    ("sharegpt-accelmark", "input"): {"p50": 198.5, "mean": 236.3, "min": 64, "max": 592},
    ("sharegpt-accelmark", "output"): {"p50": 310, "p99": 1200, "min": 1, "max": 512},
    ("sharegpt4-sarathi", "input"): {"p50": 1730, "mean": 2340.0, "min": 1, "max": 8141},
    ("sharegpt4-sarathi", "output"): {"p50": 415, "mean": 438.7, "min": 1, "max": 1024},
    ("lmsys-chat-1m", "input"): {"p50": 417, "mean": 686, "min": 1, "max": 4096},
    ("lmsys-chat-1m", "output"): {"p50": 139, "mean": 197, "min": 1, "max": 4096},
    ("splitwise-conversation", "input"): {"p50": 1020, "mean": 1154.7, "min": 1, "max": 14050},
    ("splitwise-conversation", "output"): {"p50": 129, "mean": 211.1, "min": 1, "max": 1000},
    ("splitwise-code", "input"): {"p50": 1469, "mean": 2047.8, "min": 1, "max": 7436},
    ("splitwise-code", "output"): {"p50": 13, "mean": 27.9, "min": 1, "max": 1899},
    ("mlperf-openorca", "input"): {"p50": 152, "mean": 222.3, "min": 48, "max": 1021},
    ("mlperf-openorca", "output"): {"p50": 255.6, "mean": 294.45, "min": 1, "max": 1024},
    ("mlperf-mixtral", "input"): {"p50": 283, "mean": 427.4, "min": 1, "max": 1948},
    ("mlperf-mixtral", "output"): {"p50": 113, "mean": 144.84, "min": 2, "max": 1024},
    # medians above the means (prompts and answers bunch below a cap): the mean and p90
    ("mlperf-llama3.1-405b", "input"): {"mean": 9428.6, "p90": 14156, "min": 476, "max": 19988},
    ("mlperf-llama3.1-405b", "output"): {"mean": 684.68, "p90": 974, "min": 3, "max": 2000},
    ("mlperf-deepseek-r1", "input"): {"mean": 803.8, "p90": 1281, "min": 1, "max": 3140},
    ("mlperf-deepseek-r1", "output"): {"p50": 2194, "mean": 3886.23, "min": 209, "max": 20000},
}


def clipped_mean(mu: float, sigma: float, lo: float, hi: float) -> float:
    """E[clip(X, lo, hi)] for X ~ lognormal(mu, sigma)."""
    a, b = (math.log(lo) - mu) / sigma, (math.log(hi) - mu) / sigma
    inside = math.exp(mu + sigma**2 / 2) * (norm.cdf(b - sigma) - norm.cdf(a - sigma))
    return lo * norm.cdf(a) + inside + hi * norm.sf(b)


def fit(stats: dict[str, float]) -> tuple[float, float]:
    """(mu, sigma) of the lognormal matching the stated statistics: the median and the
    mean or an upper percentile, or (where the median sits above the mean, which no
    lognormal has) the mean and an upper percentile."""
    if "p50" not in stats:
        (q, value) = next((k, v) for k, v in stats.items() if k.startswith("p"))
        z = float(norm.ppf(int(q[1:]) / 100))
        return _mean_and_percentile(stats, math.log(value), z)
    mu = math.log(stats["p50"])
    if "mean" in stats:
        return mu, brentq(
            lambda s: clipped_mean(mu, s, stats["min"], stats["max"]) - stats["mean"], 1e-3, 5.0
        )
    (q, value) = next((k, v) for k, v in stats.items() if k.startswith("p") and k != "p50")
    return mu, (math.log(value) - mu) / float(norm.ppf(int(q[1:]) / 100))


def _mean_and_percentile(stats: dict[str, float], log_q: float, z: float) -> tuple[float, float]:
    def gap(sigma: float) -> float:
        return clipped_mean(log_q - z * sigma, sigma, stats["min"], stats["max"]) - stats["mean"]

    sigma = brentq(gap, 1e-3, 3.0)
    return log_q - z * sigma, sigma


def main() -> None:
    rng = np.random.default_rng(0)
    for (name, side), stats in STATED.items():
        mu, sigma = fit(stats)
        mean = math.exp(mu + sigma**2 / 2)
        std = mean * math.sqrt(math.expm1(sigma**2))
        drawn = np.clip(np.rint(rng.lognormal(mu, sigma, 200_000)), stats["min"], stats["max"])
        print(
            f"{name:24s} {side:6s} mean = {mean:9.1f}, std = {std:9.1f}  "
            f"(sigma {sigma:.3f}; drawn mean {drawn.mean():8.1f}, median {np.median(drawn):7.1f})"
        )


if __name__ == "__main__":
    main()
