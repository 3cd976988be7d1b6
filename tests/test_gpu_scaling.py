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


def test_windowed_layers_read_and_keep_only_their_window() -> None:
    # gpt-oss-20b: 12 of 24 layers see the last 128 tokens. Past the window, a token of
    # context costs the decode half what it costs with full attention everywhere.
    from simplan.kernels.memory import kv_units
    from simplan.kernels.roofline import step_time_s

    assert catalog.model("gpt-oss-20b").sliding_window_layers == 12
    swa = replica_from_ids("gpt-oss-20b", "h100-sxm").cfg
    full = swa.copy()
    full[c.SWA_LAYERS] = 0.0

    def slope(cfg, ctx0=8_000.0, ctx1=64_000.0):
        return (step_time_s(cfg, 0, 0, 0, 8, 8 * ctx1) - step_time_s(cfg, 0, 0, 0, 8, 8 * ctx0)) / (
            8 * (ctx1 - ctx0)
        )

    assert slope(swa) == pytest.approx(0.5 * slope(full), rel=0.02)
    # inside the window nothing changes
    assert step_time_s(swa, 0, 0, 0, 8, 8 * 100.0) == step_time_s(full, 0, 0, 0, 8, 8 * 100.0)
    assert kv_units(swa, 100_000.0) == pytest.approx(0.5 * 100_000 + 0.5 * 128)
    assert kv_units(full, 100_000.0) == 100_000.0
