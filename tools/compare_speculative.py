"""Compare simplan's speculative-decoding speed-up with published measurements.

Each row is a published batch-1 (or stated concurrency) measurement of an engine with and
without speculation. The acceptance rate ``a`` is solved from the reported mean acceptance
length L (tokens per verify step, bonus token included: L = (1 - a^(k+1)) / (1 - a)), so
simplan predicts only the cost side: how much longer a verify-plus-draft iteration takes
than a plain decode step. The speed-up is then L times plain / speculative step time at
the stated batch and a context of prompt plus half the output.

Usage: python tools/compare_speculative.py
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.optimize import brentq
from simplan import catalog
from simplan.engine_knobs import EngineKnobs
from simplan.kernels import step_time_s
from simplan.kernels.speculative import expected_tokens_per_step
from simplan.perf import replica_from_ids
from simplan.speculative import SpecKnobs


@dataclass(frozen=True)
class Published:
    source: str
    as_of: str
    model: str
    gpu: str
    tp: int
    weights: str
    method: str
    k: int
    acceptance_length: float
    measured_speedup: float
    batch: int = 1
    context_tokens: int = 600
    draft: str | None = None


ROWS = (
    # vLLM PR 16035 (V1 EAGLE), MT-bench, max_num_seqs 1, EAGLE-1 head for Llama-3-8B;
    # output tok/s 128.64 plain, 175.49 (k=2), 165.65 (k=4). The GPU is the H100 of the
    # tracking issue vllm#17812 that collects these runs.
    Published(
        "https://github.com/vllm-project/vllm/pull/16035",
        "2025-04-09",
        "llama-3-8b",
        "h100-sxm",
        1,
        "fp16",
        "eagle",
        2,
        1.89,
        175.49 / 128.64,
    ),
    Published(
        "https://github.com/vllm-project/vllm/pull/16035",
        "2025-04-09",
        "llama-3-8b",
        "h100-sxm",
        1,
        "fp16",
        "eagle",
        4,
        2.08,
        165.65 / 128.64,
    ),
    # DeepSeek-V3 technical report (arXiv:2412.19437, section 5.4.3): one MTP module,
    # second-token acceptance 85-90%, 1.8x tokens per second. Deployment batch unstated:
    # compared at 32 sequences of 2k context on 8 H200s in FP8.
    Published(
        "https://arxiv.org/abs/2412.19437",
        "2024-12-27",
        "deepseek-v3",
        "h200",
        8,
        "fp8",
        "mtp",
        1,
        1.875,
        1.8,
        batch=32,
        context_tokens=2000,
    ),
)


def acceptance_from_length(k: int, length: float) -> float:
    """The per-token acceptance a whose expected tokens per step equal ``length``."""
    if length >= k + 1:
        return 1.0
    return float(brentq(lambda a: expected_tokens_per_step(float(k), a) - length, 0.0, 1.0 - 1e-12))


def predicted_speedup(row: Published) -> float:
    a = acceptance_from_length(row.k, row.acceptance_length)
    draft = catalog.model(row.draft) if row.draft else None
    spec = SpecKnobs(row.method, row.k, a, draft)
    plain = replica_from_ids(row.model, row.gpu, row.weights, tp=row.tp).cfg
    fast = replica_from_ids(
        row.model, row.gpu, row.weights, tp=row.tp, engine=EngineKnobs(speculative=spec)
    ).cfg
    b = float(row.batch)
    ctx = b * row.context_tokens
    t_plain = step_time_s(plain, 0.0, 0.0, 0.0, b, ctx)
    t_spec = step_time_s(fast, 0.0, 0.0, 0.0, b, ctx)
    return row.acceptance_length * t_plain / t_spec


def main() -> None:
    print("| source | model, GPU | method, k | L | measured | simplan | error |")
    print("|---|---|---|---|---|---|---|")
    for row in ROWS:
        pred = predicted_speedup(row)
        err = pred / row.measured_speedup - 1.0
        print(
            f"| {row.source} ({row.as_of}) | {row.model}, {row.tp}x {row.gpu} {row.weights}, "
            f"batch {row.batch} | {row.method}, {row.k} | {row.acceptance_length:.2f} | "
            f"{row.measured_speedup:.2f}x | {pred:.2f}x | {err:+.0%} |"
        )


if __name__ == "__main__":
    main()
