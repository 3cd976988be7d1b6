"""Block-scaled FP4 weights (NVFP4, MXFP4): FP4 tensor cores where the GPU has them,
weight-only W4A16 elsewhere."""

from __future__ import annotations

import pytest
from simplan.kernels import layout as c
from simplan.kernels import ops
from simplan.kernels.roofline import step_time_s
from simplan.perf import replica_from_ids


def _times(gpu: str, weights: str, tp: int) -> tuple[float, float, float, list[str]]:
    r = replica_from_ids("llama-3.1-70b", gpu, weights, "fp8", tp)
    prefill = step_time_s(r.cfg, 8192.0, 8192 * 4096.0, 2.0, 0.0, 0.0)
    decode = step_time_s(r.cfg, 0.0, 0.0, 0.0, 8.0, 8 * 2000.0)
    return prefill, decode, r.memory()["weights_gib_per_gpu"], r.notes


def test_nvfp4_on_blackwell_computes_at_the_fp4_peak_and_reads_4_5_bits() -> None:
    fp8_pre, fp8_dec, fp8_gib, _ = _times("b200", "fp8", 1)
    fp4_pre, fp4_dec, fp4_gib, notes = _times("b200", "nvfp4", 1)
    assert not notes
    # compute-bound prefill: the GEMMs run at twice the peak but 1 / 1.504 of its
    # efficiency (1.33x as fast); attention and the rest do not speed up
    assert 0.7 * fp8_pre < fp4_pre < 0.9 * fp8_pre
    # bandwidth-bound decode reads 4.5-bit instead of 8-bit linear weights
    assert fp4_dec < 0.85 * fp8_dec
    # 16-bit embeddings and LM head stay: the weights shrink by a bit less than 4.5/8
    assert 4.5 / 8 < fp4_gib / fp8_gib < 4.5 / 8 + 0.05


def test_fp4_without_fp4_tensor_cores_runs_weight_only() -> None:
    fp16_pre, _, _, _ = _times("h100-sxm", "fp16", 2)
    fp4_pre, fp4_dec, _, notes = _times("h100-sxm", "nvfp4", 2)
    awq_pre, awq_dec, _, _ = _times("h100-sxm", "int4-awq", 2)
    assert any("no FP4 tensor cores" in n for n in notes)
    assert fp4_pre > fp16_pre  # 16-bit math plus dequantization
    assert fp4_pre == pytest.approx(awq_pre, rel=0.01)  # the same W4A16 kernels
    assert fp4_dec == pytest.approx(awq_dec, rel=0.05)  # 4.5 vs 4.16 bits read


def _gemm_time_s(gpu: str, weights: str, m: float, k: float, n: float) -> float:
    cfg = replica_from_ids("llama-3.1-8b", gpu, weights, "fp8", 1).cfg
    return float(
        ops.gemm_time_s(
            cfg,
            m,
            k,
            n,
            cfg[c.W_BYTES],
            cfg[c.PEAK_GEMM_FLOP_PER_S],
            cfg[c.DEQUANT],
            cfg[c.M_HALF_TOKENS],
        )
    )


def test_nvfp4_gemm_speedup_over_bf16_on_b200_is_the_measured_one() -> None:
    # vLLM PR 20646's 'Before' table (quantization.toml, weights.nvfp4): at M = 8192,
    # N = 6144, K = 4096 NVFP4 ran 3778.76 / 1420.97 = 2.66x as fast as BF16, not the
    # 4x of the datasheet peaks
    bf16 = _gemm_time_s("b200", "bf16", 8192.0, 4096.0, 6144.0)
    fp4 = _gemm_time_s("b200", "nvfp4", 8192.0, 4096.0, 6144.0)
    assert bf16 / fp4 == pytest.approx(3778.76 / 1420.97, rel=0.06)
    # a decode GEMM is a weight read, where 4.5-bit weights win by their size
    bf16_m1 = _gemm_time_s("b200", "bf16", 1.0, 8192.0, 28672.0)
    fp4_m1 = _gemm_time_s("b200", "nvfp4", 1.0, 8192.0, 28672.0)
    assert fp4_m1 < 0.5 * bf16_m1
