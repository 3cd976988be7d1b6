"""GPUs without an operator profile borrow a fit scaled to their own ridge point."""

from __future__ import annotations

import pytest
from simplan import catalog
from simplan.kernels import layout as c
from simplan.kernels.batch import static_batch
from simplan.perf import replica_from_ids, ridge_flop_per_byte


@pytest.mark.parametrize(("gpu", "family"), [("a100-sxm4-80gb", "a100"), ("h100-sxm", "h100")])
def test_the_profiled_gpus_keep_their_fitted_ramp(gpu: str, family: str) -> None:
    eff = catalog.efficiency(family)
    assert eff.fit_gpu == gpu
    cfg = replica_from_ids("llama-3.1-8b", gpu).cfg
    assert cfg[c.M_HALF_16_TOKENS] == eff.gemm_m_half_tokens
    # and the rest scale by their ridge point: an H200 has the H100's peak, more bandwidth
    h200 = replica_from_ids("llama-3.1-8b", "h200").cfg
    ratio = ridge_flop_per_byte(catalog.gpu("h200")) / ridge_flop_per_byte(catalog.gpu(gpu))
    if family == "h100":
        assert h200[c.M_HALF_16_TOKENS] == pytest.approx(eff.gemm_m_half_tokens * ratio)
        assert ratio == pytest.approx(3350 / 4800)


def test_a_gpu_with_capped_tensor_cores_decodes_at_its_bandwidth() -> None:
    # H20: 15% of an H100's tensor peak, 1.19x its bandwidth. Batch-1 decode reads the
    # weights once per token, so it is bandwidth-bound and faster than on an H100.
    tpot = {
        g: static_batch(replica_from_ids("llama-3.1-8b", g).cfg, 1, 128, 128)[1]
        for g in ("h20", "h100-sxm")
    }
    assert tpot["h20"] < tpot["h100-sxm"]
    # by about the bandwidth ratio (the per-step overheads are the same on both)
    assert tpot["h20"] / tpot["h100-sxm"] == pytest.approx(3350 / 4000, rel=0.1)
    # ...while a prompt, compute-bound, takes about the peak ratio longer
    ttft = {
        g: static_batch(replica_from_ids("llama-3.1-8b", g).cfg, 1, 8192, 2)[0]
        for g in ("h20", "h100-sxm")
    }
    assert 4.0 < ttft["h20"] / ttft["h100-sxm"] < 8.0
