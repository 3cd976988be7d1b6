"""Engines' own all-reduce kernels: measured curves, where they apply, what they save."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from simplan import calibration, catalog
from simplan.allreduce import custom_allreduce
from simplan.engine_knobs import EngineKnobs, custom_allreduce_id
from simplan.fit import replica_cfg
from simplan.kernels import layout as c
from simplan.kernels import ops
from simplan.kernels import roofline as k
from simplan.perf import replica_from_ids
from simplan.scenario import scenario_from_dict

KERNELS = ["vllm", "tensorrt-llm"]


@pytest.mark.parametrize("kernel_id", KERNELS)
@pytest.mark.parametrize("tp", [2, 4, 8])
def test_the_fitted_line_tracks_every_measured_latency(kernel_id: str, tp: int) -> None:
    kernel = catalog.get("allreduce", kernel_id)
    alpha, per_byte = custom_allreduce(catalog.gpu(kernel.measured_gpu), tp, kernel_id)
    sizes = np.asarray(kernel.sizes_bytes, dtype=float)
    measured = np.asarray(kernel.latencies_s(tp))
    assert np.all(np.abs((alpha + per_byte * sizes) / measured - 1.0) < 0.2)
    assert alpha > 0 and per_byte > 0


def test_time_per_byte_scales_with_nvlink_bandwidth_and_latency_does_not() -> None:
    h100 = custom_allreduce(catalog.gpu("h100-sxm"), 8, "vllm")
    a100 = custom_allreduce(catalog.gpu("a100-sxm4-80gb"), 8, "vllm")
    assert a100[0] == pytest.approx(h100[0], rel=1e-12)
    assert a100[1] == pytest.approx(h100[1] * 900.0 / 600.0, rel=1e-12)


def test_six_gpus_use_the_eight_gpu_measurements() -> None:
    kernel = catalog.get("allreduce", "vllm")
    assert kernel.latencies_s(6) == kernel.latencies_s(8)
    assert kernel.latencies_s(3) == kernel.latencies_s(4)


def test_a_malformed_curve_is_refused() -> None:
    entry = catalog.get("allreduce", "vllm").model_dump()
    entry["tp4_latency_s"] = entry["tp4_latency_s"][:-1]
    with pytest.raises(ValidationError, match="one value per entry of sizes_bytes"):
        catalog.CustomAllReduce.model_validate(entry)


def test_engines_name_their_kernel_and_unnamed_ones_use_nccl() -> None:
    assert custom_allreduce_id("vllm") == "vllm"
    assert custom_allreduce_id("sglang") == "vllm"
    assert custom_allreduce_id("tensorrt-llm") == "tensorrt-llm"
    assert custom_allreduce_id(None) is None


def _cfg(custom: str | None, gpu: str = "h100-sxm", tp: int = 8) -> np.ndarray:
    knobs = EngineKnobs(custom_allreduce=custom)
    return replica_from_ids("llama-3.1-70b", gpu, "fp16", "fp16", tp, 1, knobs).cfg


def test_small_messages_take_the_custom_kernel_and_large_ones_the_ring() -> None:
    nccl, custom = _cfg(None), _cfg("vllm")
    alpha, per_byte = custom_allreduce(catalog.gpu("h100-sxm"), 8, "vllm")
    k_scale = float(calibration.constants()["kernel_overhead_scale"])
    small = 16.0 * 1024  # one decode token of a hidden-8192 model
    assert ops.allreduce_time_s(custom, small) == pytest.approx(
        alpha * k_scale + per_byte * small, rel=1e-12
    )
    assert ops.allreduce_time_s(custom, small) < 0.5 * ops.allreduce_time_s(nccl, small)
    large = 64.0 * 2**20  # a long prefill's activations: NCCL's ring is faster
    assert ops.allreduce_time_s(custom, large) == ops.allreduce_time_s(nccl, large)


@pytest.mark.parametrize(
    ("gpu", "tp"),
    [
        ("l40s", 4),  # PCIe: no CUDA-IPC kernel over NVLink
        ("mi300x", 8),  # AMD's fabric: the measurements are NVIDIA's kernels
        ("h100-pcie", 4),  # NVLink bridges pairs only: four cards meet over PCIe
    ],
)
def test_no_custom_kernel_without_an_nvlink_group(gpu: str, tp: int) -> None:
    assert _cfg("vllm", gpu, tp)[c.CAR_S_PER_BYTE] == 0.0


def test_an_nvlink_bridged_pair_uses_the_custom_kernel() -> None:
    assert _cfg("vllm", "h100-pcie", 2)[c.CAR_S_PER_BYTE] > 0.0


def test_a_decode_step_saves_two_all_reduces_per_layer() -> None:
    def cfg(custom_all_reduce: bool) -> np.ndarray:
        doc = {
            "model": {"name": "llama-3.1-70b"},
            "hardware": {"gpu": "h100-sxm", "tp": 8},
            "engine": {"name": "sglang", "custom_all_reduce": custom_all_reduce},
            "workload": {"arrival": "poisson", "rate_per_s": 1.0, "num_requests": 10},
        }
        return replica_cfg(scenario_from_dict(doc))[0]

    on, off = cfg(True), cfg(False)
    message = on[c.HIDDEN] * on[c.A_BYTES]  # one sequence's hidden state
    per_layer = ops.allreduce_time_s(off, message) - ops.allreduce_time_s(on, message)
    saved = 2.0 * on[c.LAYERS] * per_layer
    step_on = k.step_time_s(on, 0.0, 0.0, 0.0, 1.0, 1024.0)
    step_off = k.step_time_s(off, 0.0, 0.0, 0.0, 1.0, 1024.0)
    assert saved > 0
    assert step_off - step_on == pytest.approx(saved, rel=1e-9)
