"""Expert-parallel replicas wider than one node (data-parallel attention): DeepSeek-V3 on
2x8 H100s, and tensor-parallel groups across nodes. Collectives split between NVLink
inside a node and the network between nodes."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from simplan.engine_knobs import EngineKnobs
from simplan.errors import ParallelismError
from simplan.kernels import layout as c
from simplan.kernels import memory as kmem
from simplan.kernels.ops import allreduce_time_s, alltoall_time_s
from simplan.kernels.roofline import step_time_s
from simplan.perf import replica_from_ids


def _cfg(  # type: ignore[no-untyped-def]
    model: str = "deepseek-v3",
    tp: int = 16,
    dp: bool = True,
    gpu: str = "h100-sxm",
    moe_max: int | None = 8192,
):
    knobs = EngineKnobs(attention_dp=dp, moe_max_num_tokens=moe_max)
    return replica_from_ids(model, gpu, "fp8", "fp8", tp=tp, engine=knobs).cfg


def test_an_all_to_all_across_two_nodes_by_hand() -> None:
    cfg = _cfg()
    assert cfg[c.NODE_GPUS] == 8 and cfg[c.INTER_BW_BYTES_PER_S] == 25e9
    nbytes = 64e6
    # 7 of 16 shares stay in the node (NVLink), 8 of 16 cross the network, concurrently
    intra = 7 / 16 * nbytes / cfg[c.AR_BW_BYTES_PER_S]
    inter = 8 / 16 * nbytes / 25e9
    alpha = max(cfg[c.AR_ALPHA_S], cfg[c.INTER_ALPHA_S])
    assert alltoall_time_s(cfg, nbytes) == pytest.approx(alpha + max(intra, inter), rel=1e-12)
    assert inter > intra  # the network binds


def test_an_all_reduce_across_two_nodes_by_hand() -> None:
    cfg = _cfg()
    nbytes = 16e6
    in_node = cfg[c.AR_ALPHA_S] + 2 * 7 / 8 * nbytes / cfg[c.AR_BW_BYTES_PER_S]
    between = cfg[c.INTER_ALPHA_S] + 2 * 1 / 2 * (nbytes / 8) / 25e9  # 2 nodes, 1/8 slice
    assert allreduce_time_s(cfg, nbytes) == pytest.approx(in_node + between, rel=1e-12)


def test_the_kernels_match_the_numpy_reference_across_nodes() -> None:
    cfgs = np.stack([_cfg(), _cfg("qwen3-235b-a22b"), _cfg("kimi-k2", tp=32)])
    for nbytes in (1e3, 5e7):
        got = [alltoall_time_s(row, nbytes) for row in cfgs]
        assert got == pytest.approx(ref.alltoall_time(cfgs, nbytes), rel=1e-12)
        got = [allreduce_time_s(row, nbytes) for row in cfgs]
        assert got == pytest.approx(ref.allreduce_time(cfgs, nbytes), rel=1e-12)
    args = (512.0, 512.0 * 256.5, 1.0, 256.0, 256.0 * 2000.0)
    got = [step_time_s(row, *args) for row in cfgs]
    assert got == pytest.approx(ref.step_time(cfgs, *args), rel=1e-9)


def test_two_h100_nodes_hold_what_one_cannot() -> None:
    two, one = _cfg(tp=16), _cfg(tp=8, gpu="h200")
    # DeepSeek-V3 FP8 (~671 GB) cannot sit on one 8xH100 node; on two it leaves room
    assert kmem.kv_capacity_tokens(_cfg(tp=8)) <= 0
    assert kmem.kv_capacity_tokens(two) > 0
    # ... once the MoE takes the 16 ranks' tokens in chunks: all 16 x 8192 at once need
    # 27 GiB per GPU more (the OOM TensorRT-LLM PR 3104 added moe_max_num_tokens for)
    assert kmem.kv_capacity_tokens(_cfg(moe_max=None)) <= 0
    assert kmem.weight_bytes_per_gpu(two) < kmem.weight_bytes_per_gpu(one)


def test_the_network_slows_a_decode_step() -> None:
    cfg = _cfg()
    one_domain = cfg.copy()
    one_domain[c.NODE_GPUS] = 16  # as if all 16 GPUs shared one NVLink domain
    args = (0.0, 0.0, 0.0, 512.0, 512.0 * 2000.0)
    assert step_time_s(cfg, *args) > 1.05 * step_time_s(one_domain, *args)


@pytest.mark.parametrize(
    ("model", "tp", "dp", "says"),
    [
        ("deepseek-v3", 12, False, "fills whole 8-GPU nodes"),
        ("qwen2.5-7b", 16, False, "must divide the 28 attention heads"),
        ("llama-3.1-70b", 16, True, "only an MoE model"),
        ("deepseek-v3", 12, True, "whole 8-GPU nodes"),
        ("mixtral-8x7b", 16, True, "deals the 8 experts out whole"),
    ],
)
def test_groups_beyond_a_node_that_cannot_run_say_why(model, tp, dp, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParallelismError) as err:
        _cfg(model, tp=tp, dp=dp)
    assert "hardware.tp" in str(err.value) and says in str(err.value)


def test_a_tensor_parallel_group_across_nodes_pays_the_network_and_says_so() -> None:
    # SGLang's DeepSeek recipe: --tp 16 over two 8-GPU H100 nodes, attention tensor-parallel
    two = replica_from_ids("llama-3.1-405b", "h100-sxm", "fp8", "fp8", tp=16)
    one = replica_from_ids("llama-3.1-405b", "h100-sxm", "fp8", "fp8", tp=8)
    assert any("spans 2 nodes" in n and "uncalibrated" in n for n in two.notes)
    nbytes = 8192 * 2 * 64  # one all-reduce of a 64-token step's hidden states
    in_node = two.cfg[c.AR_ALPHA_S] + 2 * 7 / 8 * nbytes / two.cfg[c.AR_BW_BYTES_PER_S]
    between = two.cfg[c.INTER_ALPHA_S] + 2 * 1 / 2 * (nbytes / 8) / 25e9
    assert allreduce_time_s(two.cfg, nbytes) == pytest.approx(in_node + between, rel=1e-12)
    # half the weights per GPU, but 2 all-reduces per layer cross the network: a small
    # decode step is not twice as fast
    args = (0.0, 0.0, 0.0, 64.0, 64.0 * 2000.0)
    assert step_time_s(two.cfg, *args) > 0.5 * step_time_s(one.cfg, *args)


def test_a_pcie_ring_waits_longer_the_more_gpus_it_has() -> None:
    # L40S has no NVLink: its all-reduce is a PCIe ring of 2(n - 1) steps, profiled at 4
    four, eight = (
        replica_from_ids("llama-3.1-70b", "l40s", "fp8", "fp8", tp=tp).cfg for tp in (4, 8)
    )
    assert eight[c.AR_ALPHA_S] == pytest.approx(four[c.AR_ALPHA_S] * 7 / 3, rel=1e-12)

    # and eight GPUs' flows share the host's bandwidth: NCCL's all_reduce_perf measured a
    # bus bandwidth of 28 GB/s on 8 PCIe GPUs against 35 on 4 of them (NVIDIA/nccl#1639);
    # read back from the times of a 1 GiB message, as all_reduce_perf computes it
    def bus_gb_per_s(cfg, n: int) -> float:  # type: ignore[no-untyped-def]
        nbytes = 2.0**30
        return 2.0 * (n - 1) / n * nbytes / allreduce_time_s(cfg, nbytes) / 1e9

    assert bus_gb_per_s(eight, 8) / bus_gb_per_s(four, 4) == pytest.approx(28 / 35, rel=0.01)
    nvlink = replica_from_ids("llama-3.1-70b", "h100-sxm", "fp8", "fp8", tp=8).cfg
    assert (
        nvlink[c.AR_ALPHA_S]
        == replica_from_ids("llama-3.1-70b", "h100-sxm", "fp8", "fp8", tp=4).cfg[c.AR_ALPHA_S]
    )  # NVSwitch all-reduces keep their fitted latency


def test_a_layout_that_fits_only_in_chunks_says_so() -> None:
    from simplan.fit import does_not_fit_reason

    knobs = EngineKnobs(attention_dp=True)
    whole = replica_from_ids("deepseek-v3", "h100-sxm", "fp8", "fp8", tp=16, engine=knobs)
    reason = does_not_fit_reason(whole, 1000, 1000)
    assert reason is not None and "[engine] moe_max_num_tokens = 8192 fits" in reason
    chunked = EngineKnobs(attention_dp=True, moe_max_num_tokens=8192)
    fits = replica_from_ids("deepseek-v3", "h100-sxm", "fp8", "fp8", tp=16, engine=chunked)
    assert does_not_fit_reason(fits, 1000, 1000) is None
    # one node cannot hold the weights, chunked or not: no such advice
    one = replica_from_ids("deepseek-v3", "h100-sxm", "fp8", "fp8", tp=8, engine=knobs)
    reason = does_not_fit_reason(one, 1000, 1000)
    assert reason is not None and "moe_max_num_tokens" not in reason


def test_run_refuses_the_unchunked_layout_and_names_the_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner
    from simplan.cli import main

    path = tmp_path / "ds.toml"
    path.write_text(
        'name = "ds"\n[model]\nname = "deepseek-v3"\nweights = "fp8"\nkv_cache = "fp8"\n'
        '[hardware]\ngpu = "h100-sxm"\ntp = 16\n[engine]\nattention_dp = true\n'
        "[workload]\nrate_per_s = 1.0\nnum_requests = 20\n"
    )
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 2
    assert "[engine] moe_max_num_tokens = 8192 fits" in result.output
