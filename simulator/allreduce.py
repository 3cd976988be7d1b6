"""What a tensor-parallel all-reduce costs on a GPU: NCCL's ring, and the engines' own
CUDA-IPC kernels for small and medium messages (catalog ``allreduce.toml``).

Both give (latency s, bandwidth or time per byte) that :func:`simplan.perf.build_replica`
writes into the configuration vector; the kernels (``ops.allreduce_time_s``) take the
faster per message.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from simplan import catalog
from simplan.units import GB

# GPUs in the profiled PCIe all-reduce runs (efficiency.toml allreduce_pairwise_4gpu_*)
PROFILED_PCIE_GROUP = 4
#: Bus bandwidth of an 8-GPU PCIe all-reduce over a 4-GPU one on the same host: 28 / 35
#: GB/s, all_reduce_perf on 8x RTX 5090 behind two Xeon 8480+ (NVIDIA/nccl issue 1639,
#: 2025-03-14), where NCCL's maintainer explains that on PCIe systems "the performance
#: you get is usually determined by the bandwidth your CPU and memory can deliver": eight
#: GPUs' flows share it.
PCIE_WIDE_BANDWIDTH_RATIO = 28.0 / 35.0


def nccl_allreduce(
    gpu: catalog.Gpu, eff: catalog.Efficiency, tp: int
) -> tuple[float, float, str | None]:
    """(latency s, bus bandwidth B/s, note) of a TP all-reduce on this GPU's interconnect.

    The fitted bus bandwidths come from the profiled GPU (A100: 600 GB/s NVLink, H100:
    900 GB/s) and scale with this GPU's NVLink bandwidth. Groups that leave the NVLink
    domain run over PCIe at the efficiency the profile's 4-GPU pairwise runs showed; their
    latency is a ring's, 2(n-1) steps one after another, so beyond the profiled 4 GPUs it
    scales with n - 1 (an 8-GPU PCIe ring waits 7/3 as long); smaller groups keep it.
    Wider groups also share the host's PCIe and memory bandwidth among more flows
    (:data:`PCIE_WIDE_BANDWIDTH_RATIO`).
    """
    ref_nvlink = {"a100": 600.0, "h100": 900.0}
    ref_pcie = {"a100": 64.0, "h100": 128.0}
    family = "h100" if eff.id == "h100" else "a100"
    extra = eff.model_extra or {}
    pcie_eff = float(extra["allreduce_pairwise_4gpu_bus_bandwidth_gb_per_s"]) / (
        ref_pcie[family] / 2.0
    )
    pcie_latency = float(extra["allreduce_pairwise_4gpu_latency_s"])
    if gpu.nvlink_gb_per_s > 0 and tp <= gpu.nvlink_domain_gpus:
        scale = gpu.nvlink_gb_per_s / ref_nvlink[family]
        if gpu.nvlink_domain_gpus >= 4:
            return eff.allreduce_latency_s, eff.allreduce_bus_bandwidth_gb_per_s * GB * scale, None
        return (
            eff.allreduce_pairwise_latency_s,
            eff.allreduce_pairwise_bus_bandwidth_gb_per_s * GB * scale,
            None,
        )
    note = None
    if tp > 1:
        where = (
            "has no NVLink"
            if gpu.nvlink_gb_per_s <= 0
            else (f"links only {gpu.nvlink_domain_gpus} GPUs over NVLink")
        )
        note = f"{gpu.id} {where}: the tp={tp} all-reduces run over PCIe (slow)"
    # the profiled latency (fixed costs included) is the floor for smaller groups
    ring_steps = max(tp - 1, PROFILED_PCIE_GROUP - 1) / (PROFILED_PCIE_GROUP - 1)
    bus = pcie_eff * gpu.pcie_gb_per_s / 2.0 * GB
    if tp > PROFILED_PCIE_GROUP:
        bus *= PCIE_WIDE_BANDWIDTH_RATIO  # more GPUs than the profile share the host's
    return pcie_latency * ring_steps, bus, note


#: vLLM's and TensorRT-LLM's custom all-reduce kernels serve groups of at most 8 GPUs
#: (vLLM's CustomAllreduce supports world sizes 2, 4, 6 and 8)
CUSTOM_ALLREDUCE_MAX_TP = 8


def custom_allreduce(gpu: catalog.Gpu, tp: int, kernel_id: str) -> tuple[float, float]:
    """(latency s, time per byte s) of an engine's custom all-reduce on this GPU.

    A straight line fitted to the kernel's measured latencies at this TP degree (the next
    measured degree up for 6), by least squares in relative error. The measurements are
    on an H100; the time per byte scales with NVLink bandwidth, the latency does not.
    """
    alpha, per_byte = _measured_line(kernel_id, tp)
    measured_on = catalog.gpu(catalog.get("allreduce", kernel_id).measured_gpu)
    return alpha, per_byte * measured_on.nvlink_gb_per_s / gpu.nvlink_gb_per_s


@cache
def _measured_line(kernel_id: str, tp: int) -> tuple[float, float]:
    """The fit itself, once per kernel and TP degree: every replica build asks for it."""
    kernel = catalog.get("allreduce", kernel_id)
    sizes = np.asarray(kernel.sizes_bytes, dtype=float)
    latency = np.asarray(kernel.latencies_s(tp), dtype=float)
    design = np.stack([np.ones_like(sizes), sizes], axis=1) / latency[:, None]
    alpha, per_byte = np.linalg.lstsq(design, np.ones_like(sizes), rcond=None)[0]
    return float(alpha), float(per_byte)


def custom_allreduce_cost(gpu: catalog.Gpu, tp: int, kernel_id: str | None) -> tuple[float, float]:
    """(latency s, time per byte s) of the engine's custom kernel for a ``tp`` group on
    ``gpu``; (0, 0) where it does not apply: no kernel named, or a group that is not 2-8
    GPUs in one NVLink domain (a node, or a bridged pair of PCIe cards) of NVIDIA GPUs."""
    if (
        kernel_id
        and gpu.nvlink_gb_per_s > 0
        and gpu.interconnect != "infinity_fabric"
        and 1 < tp <= min(gpu.nvlink_domain_gpus, CUSTOM_ALLREDUCE_MAX_TP)
    ):
        return custom_allreduce(gpu, tp, kernel_id)
    return 0.0, 0.0
