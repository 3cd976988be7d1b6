"""Throughput of the vectorized numba kernels against the numpy reference implementations.

Usage::

    /work/venv/bin/python benchmarks/bench_kernels.py [--n N] [--seed S]

Both sides evaluate the same N random configurations (catalog replicas with random batch
shapes). Each kernel is called once first so numba's compile / cache-load time is not
timed; each timing is the best of three repeats (time.perf_counter). The script asserts
that the two implementations agree on the benchmarked data before printing the table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import reference as ref
from simplan import catalog
from simplan import kernels as k
from simplan.perf import replica_from_ids, stack_cfgs, valid_tp_degrees

MODELS = ["llama-2-7b", "llama-3-70b", "mixtral-8x7b", "deepseek-v3", "gpt-j-6b", "opt-13b"]
GPUS = ["a100-sxm4-80gb", "h100-sxm", "l40s", "h200", "a10g"]
SCHEMES = ["fp16", "fp8", "int8", "int8-wo", "int4-awq"]


def base_configs() -> np.ndarray:
    reps = []
    for model, gpu, scheme, pp in itertools.product(MODELS, GPUS, SCHEMES, (1, 2, 4)):
        for tp in valid_tp_degrees(catalog.model(model)):
            reps.append(replica_from_ids(model, gpu, scheme, "fp16", tp=tp, pp=pp))
    return stack_cfgs(reps)


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="configurations for step time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-tokens", type=int, default=32, help="static batch length")
    args = parser.parse_args()
    n = args.n
    # each static batch is output_tokens step evaluations: a tenth of the rows
    n_static = max(n // 10, 1)
    rng = np.random.default_rng(args.seed)

    base = base_configs()
    cfgs = np.ascontiguousarray(base[rng.integers(0, base.shape[0], n)])
    chunk = rng.integers(0, 8193, n) * (rng.random(n) < 0.5)
    prefix = rng.integers(0, 16385, n)
    decode = rng.integers(0, 513, n) * (rng.random(n) < 0.8)
    step_args = tuple(
        np.ascontiguousarray(x, dtype=np.float64)
        for x in (
            chunk,
            chunk * (prefix + (chunk + 1) / 2),
            (chunk > 0) * 1,
            decode,
            decode * rng.integers(1, 32769, n),
        )
    )
    sc = np.ascontiguousarray(cfgs[:n_static])
    static_args = (
        rng.integers(1, 257, n_static).astype(np.float64),
        rng.integers(1, 8193, n_static).astype(np.float64),
        np.full(n_static, float(args.output_tokens)),
    )
    mem_args = (
        rng.integers(1, 32769, n).astype(np.float64),  # input tokens
        rng.integers(1, 8193, n).astype(np.float64),  # output tokens
    )

    cases = [
        (
            "step_time_many",
            n,
            lambda: k.step_time_many(cfgs, *step_args),
            lambda: ref.step_time(cfgs, *step_args),
        ),
        (
            f"static_batch_many (out={args.output_tokens})",
            n_static,
            lambda: k.static_batch_many(sc, *static_args),
            lambda: ref.static_batch(sc, *static_args),
        ),
        (
            "memory_many",
            n,
            lambda: k.memory_many(cfgs, *mem_args),
            lambda: ref.memory_table(cfgs, *mem_args),
        ),
    ]

    rows = []
    for name, count, fast, slow in cases:
        got, want = fast(), slow()  # warm-up (compile / load numba cache) and agreement
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=0, err_msg=name)
        t_numba = best_of(fast)
        t_numpy = best_of(slow)
        rows.append((name, count, count / t_numba, count / t_numpy, t_numpy / t_numba))

    print(f"{len(base)} catalog replicas sampled; best of 3; both sides agree (rtol 1e-9)")
    header = (
        f"{'kernel':<30} {'configs':>9} {'numba cfg/s':>14} {'numpy cfg/s':>14} {'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, count, fast_rate, slow_rate, ratio in rows:
        print(f"{name:<30} {count:>9,} {fast_rate:>14,.0f} {slow_rate:>14,.0f} {ratio:>8.1f}x")


if __name__ == "__main__":
    main()
